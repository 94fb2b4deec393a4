/**
 * Files written onto a machine, whatever reaches it: each atomically (a temp file beside
 * the target, its mode set, synced, renamed over the target), the last only after every
 * other is in place, so that it can be a marker saying the rest are there.
 */
import path from 'node:path'

/** One file to write: an absolute path, its bytes, its mode (0600 unless given). */
export interface FileToWrite {
  path: string
  data: string | Buffer
  mode?: number
}

/** Progress and conditions of one batch of writes. */
export interface WriteOptions {
  /** Told as each file starts and as each is in place. */
  onFile?: (path: string, state: 'start' | 'done') => void
  /** Write nothing unless this directory is a tmpfs mount on the machine (node secrets). */
  inMemory?: string
  /** Temp files of earlier, interrupted writes of the same files older than this are removed; default 10 min. */
  staleTempAgeMs?: number
}

/** The temp-file prefix for `target`: hidden, and named after it so leftovers are recognisable. */
export function tempPrefix(target: string): string {
  return `.${path.posix.basename(target)}.berth-tmp-`
}

/** The type of the file system mounted last at `dir` in a /proc/mounts text, or undefined if none is. */
export function mountedType(mounts: string, dir: string): string | undefined {
  // Fields are space-separated; a space, tab, newline or backslash in a path is octal (\040).
  const unescape = (field: string) => field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)))
  let type: string | undefined
  for (const line of mounts.split('\n')) {
    const [, where, fsType] = line.split(' ')
    if (where !== undefined && fsType !== undefined && unescape(where) === dir) type = fsType
  }
  return type
}

/** Why `dir` may not hold node secrets, from the machine's /proc/self/mounts; undefined when it is a tmpfs. */
export function notInMemory(where: string, mounts: string, dir: string): string | undefined {
  const type = mountedType(mounts, dir)
  if (type === 'tmpfs') return undefined
  return `${where}: ${dir} is ${type ? `a ${type} mount` : 'not a mount'}, not tmpfs; berth writes node secrets only to memory (the first-boot file mounts it: did first boot run?)`
}

/**
 * Writes `files` with `one`: all but the last at once, the last only after every other is
 * in place; `onFile` is told as each starts and ends. A failure leaves the last file
 * untouched and is reported once the others end.
 */
export async function writeMarkerLast(files: readonly FileToWrite[], one: (file: FileToWrite) => Promise<void>, onFile?: WriteOptions['onFile']): Promise<void> {
  const write = async (file: FileToWrite) => {
    onFile?.(file.path, 'start')
    await one(file)
    onFile?.(file.path, 'done')
  }
  const outcomes = await Promise.allSettled(files.slice(0, -1).map(write))
  const failed = outcomes.find((o) => o.status === 'rejected')
  if (failed) throw failed.reason
  if (files.length > 0) await write(files.at(-1)!)
}
