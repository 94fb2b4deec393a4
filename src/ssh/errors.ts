import {BerthError, RetryableError} from '../errors.js'

/** The server presented a host key berth does not know for it: the connection was refused. */
export class HostKeyMismatchError extends BerthError {
  constructor(
    readonly where: string,
    readonly expected: string[],
    readonly presented: string,
  ) {
    super(
      `${where}: host key mismatch: expected ${expected.join(' or ')}, the server presented ${presented}; ` +
        'refusing to connect (if the machine was reinstalled on purpose, update berth\'s known hosts)',
    )
  }
}

/** The server refused every key berth offered for the user. */
export class SshAuthenticationError extends BerthError {}

/** Network errors that usually pass: the machine is booting, rebooting or briefly unreachable. */
const TRANSIENT: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  EPIPE: 'connection closed',
  EAI_AGAIN: 'name lookup failed for now',
}

/** Translates an ssh2 or socket error raised while connecting into one of berth's errors. */
export function connectError(error: unknown, where: string, username: string, timeoutMs: number): BerthError {
  if (error instanceof BerthError) return error
  const e = error as {code?: unknown; level?: unknown; message?: unknown}
  const code = typeof e.code === 'string' ? e.code : undefined
  const message = typeof e.message === 'string' ? e.message : String(error)
  if (code !== undefined && TRANSIENT[code]) {
    return new RetryableError(`${where}: ${TRANSIENT[code]} (${code}); is the machine up and sshd listening?`, {cause: error})
  }
  if (e.level === 'client-timeout') {
    return new RetryableError(`${where}: no SSH handshake within ${timeoutMs} ms; is the machine up and sshd listening?`, {cause: error})
  }
  if (e.level === 'client-authentication') {
    return new SshAuthenticationError(
      `${where}: the server refused berth's key for user "${username}"; is berth's public key in that user's authorized_keys?`,
      {cause: error},
    )
  }
  if (code === 'ENOTFOUND') return new BerthError(`${where}: no such host`, {cause: error})
  return new BerthError(`${where}: SSH connection failed: ${message}`, {cause: error})
}
