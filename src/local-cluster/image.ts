import {createHash} from 'node:crypto'
import {mkdtemp, readdir, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {execa} from 'execa'

import {BerthError, outputTail} from '../errors.js'
import {shipped} from '../paths.js'
import {connectDocker, isNotFound} from './docker.js'

/** Receives one line of build output at a time. */
export type Progress = (line: string) => void

/** The official base image, used when dockerd has it (or can pull it). */
export const OFFICIAL_BASE = 'debian:bookworm'
/** The base image berth builds itself from a debootstrap root file system. */
export const DEBOOTSTRAP_BASE = 'berth-debian:bookworm'
const MIRROR = 'http://deb.debian.org/debian'

/** What `ensureNodeImage` and `ensureRegistryImage` report. */
export interface EnsuredImage {
  tag: string
  built: boolean
  seconds: number
}

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

/** The node image's build context, shipped with berth. */
export const NODE_CONTEXT = shipped('images', 'node')

/**
 * Builds the node image unless an image of the same inputs exists: its tag is
 * `berth-node:` and 12 hex digits of a hash over the build context and the base image id.
 */
export async function ensureNodeImage(options: EnsureOptions = {}): Promise<EnsuredImage> {
  const started = performance.now()
  const base = await ensureBaseImage(options)
  const tag = `berth-node:${(await contextHash(NODE_CONTEXT, base.id)).slice(0, 12)}`
  const built = options.rebuild || !(await imageId(tag))
  if (built) {
    await dockerBuild(['--build-arg', `BASE=${base.ref}`, '--label', 'berth.image=node', '-t', tag, NODE_CONTEXT], options)
  }
  return {tag, built, seconds: (performance.now() - started) / 1000}
}

/** The registry's own settings, baked into its image; the notifying config adds to them. */
export const REGISTRY_BASE_CONFIG = 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/docker-registry\n  delete:\n    enabled: true\nhttp:\n  addr: :5000\n'

// The registry is Debian's packaged CNCF distribution registry, without authentication:
// it serves only the cluster's own network. Its shell loop serves the config in the tmpfs
// /run/registry when there is one (the push notifications, src/local-cluster/
// registry-notifications.ts), else the baked one, and serves again when the server is
// killed there to take a new config; SIGTERM stops both. The server logs each endpoint's
// headers when it starts, the token among them: sed blanks it before it reaches the log.
const REGISTRY_LOOP = [
  `trap 'kill "$(cat /run/registry/pid)" 2>/dev/null; exit 0' TERM INT`,
  'while :; do c=/etc/docker/registry/berth.yml; [ -s /run/registry/config.yml ] && c=/run/registry/config.yml',
  `sh -c 'echo $$ > /run/registry/pid; exec /usr/bin/docker-registry serve "$1"' serve "$c" 2>&1 | sed -u 's/Authorization:\\[[^]]*\\]/Authorization:[redacted]/g' &`,
  'wait $!; sleep 0.2; done',
].join('\n')
const REGISTRY_DOCKERFILE = `ARG BASE
FROM \${BASE}
RUN printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d \\
 && apt-get update && apt-get install -y --no-install-recommends docker-registry \\
 && apt-get clean && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \\
 && printf '${REGISTRY_BASE_CONFIG.replaceAll('\n', '\\n')}' > /etc/docker/registry/berth.yml \\
 && mkdir -p /run/registry
VOLUME /var/lib/docker-registry
ENV SSL_CERT_FILE=/run/registry/agents.pem
CMD ["/bin/sh", "-c", ${JSON.stringify(REGISTRY_LOOP)}]
`

/** Builds the registry image (`berth-registry:<hash>`) unless it exists. */
export async function ensureRegistryImage(options: EnsureOptions = {}): Promise<EnsuredImage> {
  const started = performance.now()
  const base = await ensureBaseImage(options)
  const hash = createHash('sha256').update(REGISTRY_DOCKERFILE).update(base.id).digest('hex')
  const tag = `berth-registry:${hash.slice(0, 12)}`
  const built = options.rebuild || !(await imageId(tag))
  if (built) {
    await dockerBuild(['--build-arg', `BASE=${base.ref}`, '--label', 'berth.image=registry', '-t', tag, '-'], {
      ...options,
      input: REGISTRY_DOCKERFILE,
    })
  }
  return {tag, built, seconds: (performance.now() - started) / 1000}
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

async function dockerBuild(args: string[], options: EnsureOptions & {input?: string}): Promise<void> {
  // The classic builder is what dockerd 20.10 without buildx offers; saying so silences its notice.
  const env = {DOCKER_BUILDKIT: '0'}
  const noCache = options.rebuild ? ['--no-cache'] : []
  await streamed('docker', ['build', ...noCache, ...args], {input: options.input, env}, options.onProgress ?? (() => {}))
}

/** Runs a program, handing each output line to `onProgress`; a failure shows its last lines. */
async function streamed(file: string, args: string[], opts: {input?: string; env?: Record<string, string>}, onProgress: Progress) {
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

async function imageId(ref: string): Promise<string | undefined> {
  const docker = await connectDocker()
  return docker.getImage(ref).inspect().then(
    (info) => info.Id,
    (error: unknown) => {
      if (isNotFound(error)) return undefined
      throw error
    },
  )
}
