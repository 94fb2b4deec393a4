import {randomBytes} from 'node:crypto'
import {mkdir, open, readFile, rename, rm, stat} from 'node:fs/promises'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'

/**
 * Writes a file so that readers see either the old content or the new, never a part:
 * write a sibling temp file (`tmp`, when the caller names it), fsync it, rename it over the target.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644, tmp = `${file}.tmp-${randomBytes(4).toString('hex')}`): Promise<void> {
  await mkdir(path.dirname(file), {recursive: true})
  const handle = await open(tmp, 'wx', mode)
  try {
    await handle.writeFile(data)
    await handle.chmod(mode) // open()'s mode is masked by the umask
    await handle.sync()
  } catch (error) {
    await handle.close()
    await rm(tmp, {force: true})
    throw error
  }
  await handle.close()
  await rename(tmp, file)
}

/**
 * Runs `work` holding `${file}.lock`, created exclusively (O_EXCL) with this process's pid,
 * so read-modify-write cycles of several processes on one file take turns. A lock whose
 * holder is gone (no such pid on this host) is taken over; one still held after `waitMs`
 * is an error that names the lock file.
 */
export async function withFileLock<T>(file: string, work: () => Promise<T>, waitMs = 10_000): Promise<T> {
  const lock = `${file}.lock`
  await mkdir(path.dirname(lock), {recursive: true})
  const deadline = Date.now() + waitMs
  for (;;) {
    try {
      const handle = await open(lock, 'wx', 0o600)
      await handle.writeFile(`${process.pid}\n`)
      await handle.close()
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const holder = Number.parseInt(await readFile(lock, 'utf8').catch(() => ''), 10)
      if (Number.isInteger(holder) && !isAlive(holder)) {
        await rm(lock, {force: true}) // its holder died mid-update; the file itself was written atomically
        continue
      }
      if (Date.now() > deadline) throw new Error(`${lock} is still held by process ${Number.isInteger(holder) ? holder : '?'} after ${waitMs / 1000} s; remove it if that process is gone`)
      await sleep(10 + Math.random() * 20)
    }
  }
  try {
    return await work()
  } finally {
    await rm(lock, {force: true})
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Whether something exists at `file` (a file, folder or anything else stat can see). */
export function exists(file: string): Promise<boolean> {
  return stat(file).then(() => true, () => false)
}
