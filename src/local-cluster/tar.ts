/**
 * A minimal ustar writer, enough to hand a few small files to `putArchive` without a
 * dependency: regular files and directories, names under 100 bytes, owned by root.
 */

/** One entry of an archive; a directory has no content. */
export interface TarEntry {
  name: string
  mode: number
  content?: string | Buffer
}

/** Builds an uncompressed tar archive of the entries, in order. */
export function tar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = []
  for (const entry of entries) {
    const body = entry.content === undefined ? Buffer.alloc(0) : Buffer.from(entry.content)
    parts.push(header(entry, body.length), body, Buffer.alloc((512 - (body.length % 512)) % 512))
  }
  parts.push(Buffer.alloc(1024)) // two zero blocks end the archive
  return Buffer.concat(parts)
}

function header(entry: TarEntry, size: number): Buffer {
  const isDir = entry.content === undefined
  const name = isDir && !entry.name.endsWith('/') ? `${entry.name}/` : entry.name
  if (Buffer.byteLength(name) > 99) throw new Error(`tar: name too long: ${name}`)
  const block = Buffer.alloc(512)
  const octal = (value: number, offset: number, width: number) =>
    block.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, 'ascii')
  block.write(name, 0, 'utf8')
  octal(entry.mode, 100, 8)
  octal(0, 108, 8) // uid
  octal(0, 116, 8) // gid
  octal(size, 124, 12)
  octal(Math.floor(Date.now() / 1000), 136, 12)
  block.write(isDir ? '5' : '0', 156, 'ascii')
  block.write('ustar\0' + '00', 257, 'ascii')
  block.write('root', 265, 'ascii')
  block.write('root', 297, 'ascii')
  // The checksum is computed with its own field read as eight spaces.
  block.fill(' ', 148, 156)
  let sum = 0
  for (const byte of block) sum += byte
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii')
  return block
}

/** The directories leading to `file` (`a/`, `a/b/`), so an archive can create them. */
export function parentDirs(file: string): string[] {
  const parts = file.split('/').slice(0, -1)
  return parts.map((_, i) => parts.slice(0, i + 1).join('/'))
}
