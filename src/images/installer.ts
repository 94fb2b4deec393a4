import {copyFile, cp, mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {BerthError} from '../errors.js'
import {contextHash, ensureBaseImage, type Progress} from './base.js'
import {ensureImage} from './ensure.js'
import {packageRoot, shipped} from '../paths.js'

/**
 * The agent/installer image: the base image (debian:bookworm where dockerd has it, else
 * berth's own debootstrap base; never pulled from Docker Hub), systemd's systemctl, the
 * docker CLI and Node binary of the build host, and berth with its production dependencies.
 */

/** The image's repository; tags are `<version>-<hash>` and `latest`. */
export const INSTALLER_REPO = 'berth/installer'

/** What a build reports. */
export interface InstallerImage {
  /** `berth/installer:<package version>-<12 hex digits of the content hash>`. */
  tag: string
  latest: string
  built: boolean
  seconds: number
  bytes: number
}

// What of berth the image needs to run `berth`: the package minus sources, tests and benches.
const shippedPaths = ['package.json', 'package-lock.json', 'bin', 'schema', 'cloud-config', 'oclif.manifest.json', 'installer/templates']
const distPaths = ['dist/src', 'dist/commands']

/**
 * Builds the image unless one with the same content hash exists (over berth's files, the
 * lockfile, the Node and docker binaries, the Dockerfile and the base image id).
 */
export async function buildInstallerImage(options: {rebuild?: boolean; onProgress?: Progress} = {}): Promise<InstallerImage> {
  const started = performance.now()
  const progress = options.onProgress ?? (() => {})
  const {execa} = await import('execa')
  const base = await ensureBaseImage({pullTimeoutMs: 0, onProgress: progress})
  const context = await mkdtemp(path.join(tmpdir(), 'berth-installer-'))
  try {
    await stage(context)
    const version = (JSON.parse(await readFile(path.join(packageRoot, 'package.json'), 'utf8')) as {version: string}).version
    const tag = `${INSTALLER_REPO}:${version}-${(await contextHash(context, base.id)).slice(0, 12)}`
    const latest = `${INSTALLER_REPO}:latest`
    const image = await ensureImage({
      tag,
      alsoTag: [latest],
      args: ['--build-arg', `BASE=${base.ref}`, '--label', 'berth.image=installer'],
      context,
      rebuild: options.rebuild,
      // Production dependencies, installed as the lockfile says; keyed in the hash by the lockfile.
      prepare: async () => {
        progress('npm ci --omit=dev')
        await run(execa('npm', ['ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], {cwd: path.join(context, 'berth'), all: true}), 'npm ci')
      },
      onProgress: progress,
      output: {stream: false, announce: `docker build -t ${tag} (base ${base.ref})`, failure: (tail) => `docker build failed: ${tail}`, tailLines: 8},
    })
    const bytes = Number((await execa('docker', ['image', 'inspect', '--format', '{{.Size}}', tag])).stdout)
    return {tag, latest, built: image.built, seconds: (performance.now() - started) / 1000, bytes}
  } finally {
    await rm(context, {recursive: true, force: true})
  }
}

/** Fills the build context: Dockerfile, the host's node and docker binaries, and berth/. */
async function stage(context: string): Promise<void> {
  await copyFile(shipped('installer', 'Dockerfile'), path.join(context, 'Dockerfile'))
  // The build host's own binaries: Node is the one berth was tested with; the docker CLI is
  // a 45 MB static-libc binary, where Debian's docker.io would add dockerd, containerd,
  // runc and iptables (about 150 MB more) to an image that only needs the client.
  await copyFile(process.execPath, path.join(context, 'node'))
  await copyFile(await dockerCli(), path.join(context, 'docker'))
  for (const item of [...shippedPaths, ...distPaths]) {
    await cp(path.join(packageRoot, item), path.join(context, 'berth', item), {
      recursive: true,
      filter: (source) => !source.endsWith('.map'),
    }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') throw new BerthError(`${item} is missing from ${packageRoot}: run \`npm run build\` first`)
      throw error
    })
  }
}

async function dockerCli(): Promise<string> {
  const {execa} = await import('execa')
  const found = await execa('sh', ['-c', 'command -v docker'], {reject: false})
  if (found.exitCode !== 0 || !found.stdout.trim()) throw new BerthError('the docker CLI is not on PATH; install docker to build images')
  return found.stdout.trim()
}

async function run(subprocess: Promise<{all?: string}> , what: string): Promise<void> {
  try {
    await subprocess
  } catch (error) {
    const all = (error as {all?: string}).all ?? (error as Error).message
    throw new BerthError(`${what} failed: ${all.trim().split('\n').slice(-8).join('\n')}`, {cause: error})
  }
}
