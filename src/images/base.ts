import {createHash} from 'node:crypto'
import {mkdtemp, readdir, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {execa} from 'execa'

import {connectDocker, isNotFound} from '../docker.js'
import {BerthError, outputTail} from '../errors.js'

/**
 * What every image berth builds starts from: the Debian base image (official, or built once
 * from debootstrap), the hash of a build context that names an image by its inputs, and the
 * streamed build runner. The node, registry, balancer, installer, example and service images
 * all use them, so they live here and not with any one of those.
 */

/** Receives one line of build output at a time. */
export type Progress = (line: string) => void

/** The official base image, used when dockerd has it (or can pull it). */
export const OFFICIAL_BASE = 'debian:bookworm'
/** The base image berth builds itself from a debootstrap root file system. */
export const DEBOOTSTRAP_BASE = 'berth-debian:bookworm'
const MIRROR = 'http://deb.debian.org/debian'

/**
 * Options of the ensure functions: `rebuild` builds again without the layer cache (fresh
 * Debian packages); `pullTimeoutMs` > 0 lets it try Docker Hub for debian:bookworm. The
 * default, 0, never contacts anything but dockerd and Debian's mirror.
 */
export interface EnsureOptions {
  rebuild?: boolean
  pullTimeoutMs?: number
  onProgress?: Progress
}

/**
 * Returns the base image (reference and id): `debian:bookworm` if dockerd has it or can
 * pull it within the timeout, else `berth-debian:bookworm`, built once from debootstrap.
 */
export async function ensureBaseImage(options: EnsureOptions = {}): Promise<{ref: string; id: string}> {
  const {pullTimeoutMs = 0, onProgress = () => {}} = options
  for (const ref of [OFFICIAL_BASE, DEBOOTSTRAP_BASE]) {
    const id = await imageId(ref)
    if (id) return {ref, id}
  }
  if (pullTimeoutMs > 0) {
    onProgress(`pulling ${OFFICIAL_BASE} (giving up after ${pullTimeoutMs / 1000} s)`)
    const pulled = await execa('docker', ['pull', OFFICIAL_BASE], {timeout: pullTimeoutMs, reject: false})
    const id = pulled.exitCode === 0 ? await imageId(OFFICIAL_BASE) : undefined
    if (id) return {ref: OFFICIAL_BASE, id}
  }
  await debootstrapBase(onProgress)
  const id = await imageId(DEBOOTSTRAP_BASE)
  if (!id) throw new BerthError(`${DEBOOTSTRAP_BASE} was imported but dockerd does not list it`)
  return {ref: DEBOOTSTRAP_BASE, id}
}

async function debootstrapBase(onProgress: Progress): Promise<void> {
  if (process.getuid?.() !== 0) throw new BerthError(`building ${DEBOOTSTRAP_BASE} runs debootstrap, which needs root`)
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-rootfs-'))
  try {
    onProgress(`debootstrap --variant=minbase bookworm from ${MIRROR}`)
    await streamed('debootstrap', ['--variant=minbase', 'bookworm', dir, MIRROR], {}, onProgress)
    // Downloaded packages and package lists only make the image bigger.
    await rm(path.join(dir, 'var/cache/apt/archives'), {recursive: true, force: true})
    await rm(path.join(dir, 'var/lib/apt/lists'), {recursive: true, force: true})
    onProgress(`importing the root file system as ${DEBOOTSTRAP_BASE}`)
    const changes = ['--change', 'CMD ["/bin/bash"]', '--change', 'LABEL berth.image=base']
    await execa('tar', ['-C', dir, '-c', '.'], {buffer: false}).pipe('docker', ['import', ...changes, '-', DEBOOTSTRAP_BASE])
  } finally {
    await rm(dir, {recursive: true, force: true})
  }
}

/** A sha256 over every file of a build context (path and content, in sorted order) and the base id. */
export async function contextHash(dir: string, baseId: string): Promise<string> {
  const hash = createHash('sha256')
  const files = (await readdir(dir, {recursive: true, withFileTypes: true}))
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath ?? entry.path, entry.name)))
    .sort()
  for (const file of files) hash.update(`${file}\0`).update(await readFile(path.join(dir, file))).update('\0')
  return hash.update(baseId).digest('hex')
}

/** Runs a program, handing each output line to `onProgress`; a failure shows its last lines. */
export async function streamed(file: string, args: string[], opts: {input?: string; env?: Record<string, string>}, onProgress: Progress) {
  const subprocess = execa(file, args, {...opts, all: true})
  try {
    for await (const line of subprocess.iterable({from: 'all'})) onProgress(line)
    await subprocess
  } catch (error) {
    const {code, all} = error as {code?: string; all?: string}
    const why = code === 'ENOENT' ? `${file} is not installed` : outputTail(all, 5)
    throw new BerthError(`${file} ${args[0]} failed: ${why}`, {cause: error})
  }
}

/** The id of the image `ref`, or undefined when dockerd has none. */
export async function imageId(ref: string): Promise<string | undefined> {
  const docker = await connectDocker()
  return docker.getImage(ref).inspect().then(
    (info) => info.Id,
    (error: unknown) => {
      if (isNotFound(error)) return undefined
      throw error
    },
  )
}
