import {Socket} from 'node:net'

import type {Client, ServerHostKeyAlgorithm} from 'ssh2'

import {BerthError, RemoteCommandError, RetryableError, UsageError} from '../errors.js'
import {type FileToWrite, writeMarkerLast} from '../machine/files.js'
import type {ExecResult, PtySize, RemoteProcess} from '../machine/shell.js'
import {connectError, HostKeyMismatchError} from './errors.js'
import {blobType, fingerprint, parsePublicKey, type PublicKey} from './known-hosts.js'
import {AtomicUploader, type UploadOptions} from './upload.js'

export type {ExecResult, PtySize, RemoteProcess} from '../machine/shell.js'

/** Where and as whom to connect, and the only host keys to accept. */
export interface ConnectOptions {
  host: string
  port?: number
  username: string
  privateKey: string | Buffer
  passphrase?: string
  /** OpenSSH public key lines; the server must present one of them (no trust on first use). */
  knownHostKeys: string[]
  /** Time from the TCP connect to a finished handshake; default 20 s. */
  timeoutMs?: number
}

/** Host-key algorithms to offer for the known keys, so the server presents a key we can check. */
function hostKeyAlgorithms(keys: PublicKey[]): ServerHostKeyAlgorithm[] {
  const names = keys.flatMap((k) => (k.type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [k.type]))
  return [...new Set(names)] as ServerHostKeyAlgorithm[]
}

/**
 * The refusal to report when the handshake ended over the host key: the server presented
 * an unknown key, or none of a known type. Undefined when the failure was something else.
 */
function hostKeyRefusal(where: string, known: PublicKey[], presented: Buffer | undefined, error: unknown): HostKeyMismatchError | undefined {
  const expected = known.map((k) => fingerprint(k))
  if (presented) {
    const type = blobType(presented) ?? 'unknown'
    return new HostKeyMismatchError(where, expected, `${type} ${fingerprint({type, blob: presented})}`)
  }
  const e = error as {level?: unknown; message?: unknown}
  if (e.level === 'handshake' && /host key/i.test(String(e.message))) {
    return new HostKeyMismatchError(where, expected, `no key of type ${[...new Set(known.map((k) => k.type))].join(', ')}`)
  }
  return undefined
}

/**
 * A TCP connection that sends what is written to it in one turn of the event loop with one
 * system call. ssh2 writes each SSH packet on its own, so the requests of several files
 * uploaded at once cost a write each, and on loopback the receiver's work runs inside
 * every one of them.
 */
function coalescingSocket(host: string, port: number): Socket {
  const socket = new Socket().connect({host, port})
  // Patched after connect(), which resets an instance's own `write` to the prototype's.
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean
  let corked = false
  socket.write = ((...args: unknown[]) => {
    if (!corked) {
      corked = true
      socket.cork()
      process.nextTick(() => {
        corked = false
        socket.uncork()
      })
    }
    return write(...args)
  }) as Socket['write']
  return socket
}

/** An open SSH connection to one machine: run commands, upload files atomically. */
export class SshConnection {
  private lost: BerthError | undefined

  constructor(
    private readonly client: Client,
    /** `host` or `host:port`, as messages name the machine. */
    readonly where: string,
  ) {
    // After the handshake an 'error' (a keepalive time-out, a reset) must not crash the
    // process; it marks the connection lost so that running operations fail clearly.
    client.on('error', (error) => {
      this.lost = new RetryableError(`${where}: SSH connection lost: ${error.message}`, {cause: error})
    })
    client.on('close', () => {
      this.lost ??= new RetryableError(`${where}: SSH connection closed`)
    })
  }

  /** Why the connection is gone, or undefined while it is open. */
  get closedReason(): BerthError | undefined {
    return this.lost
  }

  /** Runs a shell command; stdin, if given, is written and then closed. */
  async exec(command: string, options: {stdin?: string | Buffer} = {}): Promise<ExecResult> {
    if (this.lost) throw this.lost
    return new Promise((resolve, reject) => {
      this.client.exec(command, (error, channel) => {
        if (error) {
          reject(this.failure(`could not start \`${command}\``, error))
          return
        }
        // Listen before this callback returns: a fast command's exit status can arrive in the
        // same read as the reply to the exec request, and ssh2 emits it at once.
        const stdout: Buffer[] = []
        const stderr: Buffer[] = []
        let exit: {code: number | null; signal?: string} | undefined
        channel.on('data', (d: Buffer) => stdout.push(d))
        channel.stderr.on('data', (d: Buffer) => stderr.push(d))
        channel.on('exit', (code: number | null, signal?: string) => {
          exit = typeof code === 'number' ? {code} : {code: null, signal: signal ?? 'unknown'}
        })
        channel.on('close', () => {
          if (!exit) {
            reject(this.lost ?? new RetryableError(`${this.where}: \`${command}\` ended without an exit status (connection lost?)`))
            return
          }
          resolve({...exit, stdout: Buffer.concat(stdout).toString('utf8'), stderr: Buffer.concat(stderr).toString('utf8')})
        })
        channel.end(options.stdin)
      })
    })
  }

  /**
   * Starts a command (or, with `command` undefined, the login shell) whose output streams
   * as it comes: logs that follow, a terminal. `pty` asks the server for a terminal of
   * that size. `exit` resolves when the channel closes, or rejects when the connection is lost.
   */
  async start(command: string | undefined, options: {pty?: PtySize} = {}): Promise<RemoteProcess> {
    if (this.lost) throw this.lost
    const what = command === undefined ? 'a shell' : `\`${command}\``
    return new Promise((resolve, reject) => {
      const started = (error: Error | undefined, channel: import('ssh2').ClientChannel) => {
        if (error) {
          reject(this.failure(`could not start ${what}`, error))
          return
        }
        // As in exec: the exit status may come in the same read as the reply, so listen now.
        let status: {code: number | null; signal?: string} | undefined
        channel.on('exit', (code: number | null, signal?: string) => {
          status = typeof code === 'number' ? {code} : {code: null, signal: signal ?? 'unknown'}
        })
        const exit = new Promise<{code: number | null; signal?: string}>((done, fail) => {
          channel.on('close', () => (status ? done(status) : fail(this.lost ?? new RetryableError(`${this.where}: ${what} ended without an exit status (connection lost?)`))))
        })
        exit.catch(() => undefined) // a caller that only streams must not crash on a lost connection
        // The channel is both ends: reading it is stdout, writing it is stdin.
        resolve({stdout: channel, stderr: channel.stderr, stdin: channel, exit, resize: (size) => channel.setWindow(size.rows, size.cols, 0, 0)})
      }
      const pty = options.pty && {rows: options.pty.rows, cols: options.pty.cols, term: options.pty.term ?? 'xterm-256color'}
      if (command === undefined) this.client.shell(pty ?? false, started)
      else if (pty) this.client.exec(command, {pty}, started)
      else this.client.exec(command, started)
    })
  }

  /** Runs a command and throws RemoteCommandError (host, command, code, stderr) unless it exits 0. */
  async execChecked(command: string, options: {stdin?: string | Buffer} = {}): Promise<ExecResult> {
    const result = await this.exec(command, options)
    if (result.code !== 0) throw new RemoteCommandError(this.where, command, result.code, result.stderr, result.signal)
    return result
  }

  /**
   * Writes `data` to `remotePath` so that readers see the old file or the new one, never a
   * part: a 0600 temp file in the same directory, fsync, then an atomic rename over the target.
   */
  async uploadFileAtomic(remotePath: string, data: string | Buffer, mode = 0o600, options: UploadOptions = {}): Promise<void> {
    await this.uploadFilesAtomic([{path: remotePath, data, mode}], undefined, options)
  }

  /**
   * Uploads files over one SFTP session, each atomically as uploadFileAtomic does; `onFile`
   * is told as each starts and as each is in place. All but the last go at once; the last
   * is put in place only after every other one is, so it can be a marker that says the rest
   * are there. A failure leaves the last file untouched and is reported once the others end.
   */
  async uploadFilesAtomic(files: readonly FileToWrite[], onFile?: (path: string, state: 'start' | 'done') => void, options: UploadOptions = {}): Promise<void> {
    if (this.lost) throw this.lost
    const sftp = await new Promise<import('ssh2').SFTPWrapper>((resolve, reject) => {
      this.client.sftp((error, s) => (error ? reject(this.failure('could not start SFTP', error)) : resolve(s)))
    })
    const uploader = new AtomicUploader(sftp, this.where, () => this.lost)
    const upload = async (file: FileToWrite) => uploader.upload(file.path, typeof file.data === 'string' ? Buffer.from(file.data) : file.data, file.mode ?? 0o600, options)
    try {
      if (options.inMemory) await uploader.requireTmpfs(options.inMemory)
      await writeMarkerLast(files, upload, onFile)
      await uploader.removeStaleTemps(files.map((f) => f.path), options.staleTempAgeMs)
    } finally {
      sftp.end()
    }
  }

  /** Closes the connection politely and waits until it is closed. */
  async close(): Promise<void> {
    if (this.lost) return
    await new Promise<void>((resolve) => {
      this.client.once('close', () => resolve())
      this.client.end()
    })
  }

  /** Drops the connection at once, as a network failure would (running operations fail). */
  destroy(): void {
    this.client.destroy()
  }

  private failure(what: string, error: Error): BerthError {
    return this.lost ?? new BerthError(`${this.where}: ${what}: ${error.message}`, {cause: error})
  }
}

/**
 * Opens an SSH connection after checking that the server's host key is one of
 * `knownHostKeys` (compared as raw key blobs); any other key is refused with HostKeyMismatchError.
 */
export async function connect(options: ConnectOptions): Promise<SshConnection> {
  const port = options.port ?? 22
  const where = port === 22 ? options.host : `${options.host}:${port}`
  const timeoutMs = options.timeoutMs ?? 20_000
  if (options.knownHostKeys.length === 0) {
    throw new UsageError(`${where}: no known host key; berth never trusts a host key on first use (add the machine's key to berth's known hosts)`)
  }
  const known = options.knownHostKeys.map(parsePublicKey)
  const {Client} = await import('ssh2')
  const client = new Client()
  let presented: Buffer | undefined
  let accepted = false

  return new Promise<SshConnection>((resolve, reject) => {
    const onClose = () => fail(new RetryableError(`${where}: the server closed the connection during the handshake`))
    const detach = () => {
      client.off('error', fail)
      client.off('close', onClose)
      client.off('ready', onReady)
    }
    function fail(error: unknown) {
      detach()
      client.on('error', () => {}) // late errors of a dead handshake must not crash the process
      client.destroy()
      const refusal = hostKeyRefusal(where, known, accepted ? undefined : presented, error)
      reject(refusal ?? connectError(error, where, options.username, timeoutMs))
    }
    function onReady() {
      detach()
      resolve(new SshConnection(client, where))
    }
    client.once('error', fail)
    client.once('close', onClose)
    client.once('ready', onReady)
    try {
      client.connect({
        // ssh2 connects a socket berth made, so that what it writes in one turn goes out as one write.
        sock: coalescingSocket(options.host, port),
        username: options.username,
        privateKey: options.privateKey,
        passphrase: options.passphrase,
        // Straight to the key: the "none" method ssh2 tries first costs a round trip.
        authHandler: ['publickey'],
        readyTimeout: timeoutMs,
        keepaliveInterval: 5_000,
        keepaliveCountMax: 3,
        algorithms: {serverHostKey: hostKeyAlgorithms(known)},
        hostVerifier: (key: Buffer) => {
          presented = key
          accepted = known.some((k) => k.blob.equals(key))
          return accepted
        },
      })
    } catch (error) {
      // ssh2 throws at once for a key it cannot parse; its message never quotes the key.
      fail(new BerthError(`${where}: cannot use the private key: ${(error as Error).message}`, {cause: error}))
    }
  })
}
