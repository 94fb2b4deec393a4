/**
 * etcd3's failures translated at one boundary, for every place berth talks to etcd (the
 * cluster API, berth's records, the agent's store, snapshots): one message without gRPC's
 * noise and one retry rule. The rule decides by the library's error classes (gRPC status
 * codes); etcd's message text is read only where the library gives one code to several
 * conditions (FailedPrecondition: a learner still catching up vs. a peer URL taken).
 */
import {BerthError, RetryableError} from '../errors.js'
import {tcpProbe} from './probe.js'

/** etcd could not be reached at any of the given endpoints. */
export class EtcdUnreachableError extends RetryableError {}

/** A call berth itself gave up on after `ms` (etcd3 has no deadline on some calls). */
export class EtcdCallTimeout extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms} ms`)
    this.name = 'EtcdCallTimeout'
  }
}

/** What berth makes of one failed etcd call. */
export interface EtcdFailure {
  /** The connection failed or nothing answered (as opposed to etcd answering no). */
  unreachable: boolean
  /** etcd lifts it by itself within seconds: unavailable, no answer in time, a learner catching up. */
  retryable: boolean
  /** One clause for a message, such as `etcd at 10.0.0.11:2379 refused the connection`. */
  reason: string
}

/** FailedPrecondition refusals that a learner's catching up lifts (etcd gives them no code of their own). */
const LEARNER_CATCHING_UP = ['in sync with leader', 'too many learner members']

/**
 * Classifies an error thrown by an etcd3 call (or by berth's timeout around one); `subject`
 * names who did not answer (`etcd at 10.0.0.11:2379`).
 */
export async function classifyEtcdError(error: unknown, subject = 'etcd'): Promise<EtcdFailure> {
  const [etcd3, {isBrokenCircuitError}] = await Promise.all([import('etcd3'), import('cockatiel')])
  const message = error instanceof Error ? error.message : String(error)
  if (error instanceof EtcdCallTimeout || error instanceof etcd3.GRPCDeadlineExceededError) {
    return {unreachable: true, retryable: true, reason: `no answer from ${subject} ${error instanceof EtcdCallTimeout ? `within ${error.ms} ms` : 'in time'}`}
  }
  if (isBrokenCircuitError(error)) {
    return {unreachable: true, retryable: true, reason: `no answer from ${subject} (the client pauses an endpoint for a second after two failures)`}
  }
  if (error instanceof etcd3.GRPCUnavailableError) {
    const server = etcdServerMessage(message)
    return {unreachable: server === undefined, retryable: true, reason: server ?? connectionReason(message, subject)}
  }
  if (error instanceof etcd3.GRPCFailedPreconditionError) {
    return {unreachable: false, retryable: LEARNER_CATCHING_UP.some((s) => message.includes(s)), reason: etcdServerMessage(message) ?? plain(message)}
  }
  if (error instanceof etcd3.GRPCAbortedError) return {unreachable: false, retryable: true, reason: etcdServerMessage(message) ?? plain(message)}
  return {unreachable: false, retryable: false, reason: etcdServerMessage(message) ?? plain(message)}
}

/**
 * berth's error for a failed etcd call: `etcd at ENDPOINTS: cannot WHAT: REASON`, an
 * `EtcdUnreachableError` (retryable) when nothing answered, a `RetryableError` when etcd
 * will lift the refusal by itself, else a `BerthError`. berth's own errors pass through.
 */
export async function etcdError(error: unknown, endpoints: readonly string[], what: string): Promise<BerthError> {
  if (error instanceof BerthError) return error
  const failure = await classifyEtcdError(error)
  // gRPC does not always quote the socket's error (a channel that never connected may say
  // only "No connection established"): then a TCP connect of our own says what happened.
  if (failure.unreachable && failure.reason === GENERIC_UNREACHABLE) failure.reason = await probeReason(endpoints) ?? failure.reason
  const message = `etcd at ${endpoints.join(', ')}: cannot ${what}: ${failure.reason}`
  if (failure.unreachable) return new EtcdUnreachableError(`${message}; is etcd running and reachable?`, {cause: error})
  return failure.retryable ? new RetryableError(message, {cause: error}) : new BerthError(message, {cause: error})
}

/** Rejects with `EtcdCallTimeout` when `promise` has not settled within `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new EtcdCallTimeout(ms)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** etcd's own refusal (`etcdserver: unhealthy cluster` → `unhealthy cluster`), if the message carries one. */
function etcdServerMessage(message: string): string | undefined {
  return /etcdserver: ([^\n]+)/.exec(message)?.[1]?.trim()
}

const GENERIC_UNREACHABLE = 'no connection to etcd'

/** What a plain TCP connect to each endpoint meets, as one clause (the first endpoint that fails), or undefined when all accept. */
async function probeReason(endpoints: readonly string[], timeoutMs = 1000): Promise<string | undefined> {
  for (const endpoint of endpoints) {
    if (!URL.canParse(endpoint)) continue
    const outcome = await tcpProbe(endpoint, timeoutMs)
    if (outcome) return outcome
  }
  return undefined
}

/** Why a connection failed, from the socket error gRPC quotes (it keeps no code of its own for it). */
function connectionReason(message: string, subject: string): string {
  const socket = /\b(ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|ENOTFOUND|EAI_AGAIN) (\S+?)\.?(?:\s|$)/.exec(message)
  if (!socket) return subject === 'etcd' ? GENERIC_UNREACHABLE : `no connection to ${subject}`
  const [, code, address] = socket
  if (code === 'ECONNREFUSED') return `etcd at ${address} refused the connection`
  if (code === 'ECONNRESET') return `etcd at ${address} closed the connection`
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `${address} does not resolve (${code})`
  return `${address} cannot be reached (${code})`
}

/** A library message without gRPC's `14 UNAVAILABLE: ` prefix, first line only. */
function plain(message: string): string {
  return (message.split('\n')[0] ?? '').replace(/^\d+ [A-Z_]+: /, '').replace(/^Error: /, '')
}
