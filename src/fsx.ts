import {randomBytes} from 'node:crypto'
import {mkdir, mkdtemp, open, rename, rm, stat} from 'node:fs/promises'
import path from 'node:path'

/**
 * Writes a file so that readers see either the old content or the new, never a part:
 * write a sibling temp file, fsync it, rename it over the target.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  await mkdir(path.dirname(file), {recursive: true})
  const tmp = `${file}.tmp-${randomBytes(4).toString('hex')}`
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
 * Fills a fresh directory with `fill(tmpDir)` and only then moves it to `target`,
 * replacing what was there: a failure leaves the old directory untouched.
 */
export async function replaceDirAtomic(target: string, fill: (dir: string) => Promise<void>): Promise<void> {
  const parent = path.dirname(path.resolve(target))
  await mkdir(parent, {recursive: true})
  const tmp = await mkdtemp(path.join(parent, `.${path.basename(target)}.tmp-`))
  try {
    await fill(tmp)
  } catch (error) {
    await rm(tmp, {recursive: true, force: true})
    throw error
  }
  const old = `${tmp}.old`
  const existed = await stat(target).then(() => true, () => false)
  if (existed) await rename(target, old)
  await rename(tmp, target)
  if (existed) await rm(old, {recursive: true, force: true})
}
