import {randomBytes} from 'node:crypto'
import path from 'node:path'

import type {FileEntryWithStats, SFTPWrapper, Stats} from 'ssh2'

import {BerthError, RetryableError, UsageError} from '../errors.js'
import {notInMemory, tempPrefix} from '../machine/files.js'

export {mountedType, tempPrefix} from '../machine/files.js'

/** Tuning and progress for one atomic upload. */
export interface UploadOptions {
  /** Called after each written chunk with the bytes written so far and the total. */
  onProgress?: (written: number, total: number) => void
  /** Temp files of earlier, interrupted uploads of the same file older than this are removed; default 10 min. */
  staleTempAgeMs?: number
  /** Write nothing unless this directory is a tmpfs mount on the server (node secrets). */
  inMemory?: string
}

const CHUNK = 256 * 1024
/** SFTP status codes (draft-ietf-secsh-filexfer-02) that matter here. */
const NO_SUCH_FILE = 2

/** Calls one callback-style SFTP method as a promise. */
function call<T = void>(fn: (cb: (error: Error | undefined | null, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    try {
      fn((error, value) => (error ? reject(error) : resolve(value)))
    } catch (error) {
      reject(error) // ssh2 throws at once for an extension the server lacks
    }
  })
}

/**
 * Atomic uploads over one SFTP session. SFTP answers requests by id, so several uploads
 * can be in flight at once; the session remembers which directories exist, so a batch
 * asks once per directory rather than once per file.
 */
export class AtomicUploader {
  private readonly dirs = new Map<string, Promise<void>>()

  constructor(
    private readonly sftp: SFTPWrapper,
    /** `host` or `host:port`, as messages name the machine. */
    private readonly where: string,
    /** Why the connection died, if it did: a failure is then retryable. */
    private readonly lost: () => BerthError | undefined,
  ) {}

  /**
   * Uploads `data` to `target` atomically (see SshConnection.uploadFileAtomic): a 0600
   * temp file beside it, fsync, then rename(2) over it. Messages never quote `data`.
   */
  async upload(target: string, data: Buffer, mode: number, options: UploadOptions = {}): Promise<void> {
    const {sftp, where} = this
    if (!path.posix.isAbsolute(target) || target.endsWith('/')) {
      throw new UsageError(`${where}: upload target must be an absolute file path, got ${JSON.stringify(target)}`)
    }
    const dir = path.posix.dirname(target)
    const tmp = `${dir}/${tempPrefix(target)}${randomBytes(6).toString('hex')}`
    let step = `create directory ${dir}`
    let handle: Buffer | undefined
    try {
      await this.ensureDir(dir)
      step = `create ${tmp}`
      // 0600 from the first byte: the secret is never readable by others, even before chmod.
      handle = await call<Buffer>((cb) => sftp.open(tmp, 'wx', {mode: 0o600}, cb))
      step = `write ${tmp}`
      for (let offset = 0; offset < data.length; offset += CHUNK) {
        const length = Math.min(CHUNK, data.length - offset)
        await call((cb) => sftp.write(handle as Buffer, data, offset, length, offset, (e) => cb(e, undefined)))
        options.onProgress?.(offset + length, data.length)
      }
      step = `set mode ${mode.toString(8)} on ${tmp}`
      // The server's umask applied at creation; set the wanted mode exactly.
      await call((cb) => sftp.fchmod(handle as Buffer, mode, cb))
      step = `fsync ${tmp}`
      await call((cb) => sftp.ext_openssh_fsync(handle as Buffer, cb)).catch((error: Error) => {
        if (!/does not support/.test(error.message)) throw error // an old server: rename still keeps it atomic
      })
      step = `close ${tmp}`
      const h = handle
      handle = undefined
      await call((cb) => sftp.close(h, cb))
      step = `rename ${tmp} to ${target}`
      // Plain SFTP rename refuses to replace an existing file; the OpenSSH extension is rename(2).
      await call((cb) => sftp.ext_openssh_rename(tmp, target, cb))
    } catch (error) {
      await this.cleanUp(handle, tmp)
      const message = error instanceof Error ? error.message : String(error)
      // ssh2 fails pending SFTP requests with "No response from server" when the channel dies,
      // possibly before the connection reports its own close.
      if (this.lost() || message === 'No response from server') {
        throw new RetryableError(`${where}: SSH connection lost while uploading ${target} (${step}); the previous file is unchanged`, {cause: error})
      }
      if (error instanceof BerthError) throw error
      throw new BerthError(`${where}: uploading ${target} failed: ${step}: ${message}; the previous file is unchanged`, {cause: error})
    }
  }

  /**
   * Refuses, naming `dir`, unless `dir` is a tmpfs mount on the server: node secrets are
   * written only to memory. The server's /proc/self/mounts says, read over this session.
   */
  async requireTmpfs(dir: string): Promise<void> {
    const mounts = await call<Buffer>((cb) => this.sftp.readFile('/proc/self/mounts', cb)).catch((error: Error) => {
      throw new BerthError(`${this.where}: cannot read /proc/self/mounts to check that ${dir} is in memory: ${error.message}`, {cause: error})
    })
    const refusal = notInMemory(this.where, mounts.toString('utf8'), dir)
    if (refusal) throw new BerthError(refusal)
  }

  /** Removes temp files that interrupted uploads of `targets` left behind, if old enough; one listing per directory. */
  async removeStaleTemps(targets: readonly string[], maxAgeMs = 600_000): Promise<void> {
    const byDir = new Map<string, string[]>()
    for (const target of targets) byDir.set(path.posix.dirname(target), [...byDir.get(path.posix.dirname(target)) ?? [], target])
    const now = Date.now() / 1000
    await Promise.all([...byDir].map(async ([dir, inDir]) => {
      const prefixes = inDir.map(tempPrefix)
      const list = await call<FileEntryWithStats[]>((cb) => this.sftp.readdir(dir, cb)).catch(() => [])
      const stale = list.filter((e) => prefixes.some((p) => e.filename.startsWith(p)) && now - e.attrs.mtime >= maxAgeMs / 1000)
      await Promise.all(stale.map((e) => call((cb) => this.sftp.unlink(`${dir}/${e.filename}`, cb)).catch(() => undefined)))
    }))
  }

  /** Creates `dir` and its missing parents with mode 0700 (existing ones are left as they are), once per session. */
  private ensureDir(dir: string): Promise<void> {
    let made = this.dirs.get(dir)
    if (!made) {
      made = this.makeDir(dir)
      this.dirs.set(dir, made)
      made.catch(() => this.dirs.delete(dir)) // a failure is reported to every waiter, and retried by the next upload
    }
    return made
  }

  private async makeDir(dir: string): Promise<void> {
    const {sftp} = this
    try {
      const stats = await call<Stats>((cb) => sftp.stat(dir, cb))
      if (!stats.isDirectory()) throw new Error(`${dir} exists and is not a directory`)
      return
    } catch (error) {
      if ((error as {code?: unknown}).code !== NO_SUCH_FILE) throw error
    }
    await this.ensureDir(path.posix.dirname(dir))
    try {
      await call((cb) => sftp.mkdir(dir, {mode: 0o700}, cb))
    } catch (error) {
      // Another upload may have created it meanwhile; only a missing directory is a failure.
      const stats = await call<Stats>((cb) => sftp.stat(dir, cb)).catch(() => undefined)
      if (!stats?.isDirectory()) throw error
    }
  }

  /** Best effort after a failure: close the handle and remove the temp file, if the connection lives. */
  private async cleanUp(handle: Buffer | undefined, tmp: string): Promise<void> {
    if (this.lost()) return
    if (handle) await call((cb) => this.sftp.close(handle, cb)).catch(() => undefined)
    await call((cb) => this.sftp.unlink(tmp, cb)).catch(() => undefined)
  }
}
