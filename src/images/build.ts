import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'

import {BerthError, outputTail} from '../errors.js'
import {contextHash} from './base.js'

/**
 * One way to build an image from a context: hash what goes in, build only when no image
 * carries that hash, tag it. Service images (cluster.yaml's `build`) and the example image
 * use it. The hash covers every file of the context (a .dockerignore is hashed as a file,
 * not applied: a change to an ignored file rebuilds, which docker's layer cache makes
 * cheap, and no change is ever missed), the Dockerfile, the build args and `extra` (say,
 * the id of the base image the args name).
 */

/** What to build. */
export interface ImageBuildInput {
  context: string
  /** Absolute path of the Dockerfile (default: Dockerfile in the context). */
  dockerfile?: string
  args?: Record<string, string>
  /** `repository:<hash>` by default; a fixed tag (the example's) is rebuilt when its hash label differs. */
  repository: string
  tag?: string
  labels?: Record<string, string>
  /** Folded into the hash: inputs outside the context, like the base image's id. */
  extra?: string
}

/** What a build did. */
export interface ImageBuildResult {
  tag: string
  /** The content hash, as the image's `berth.context` label carries it. */
  hash: string
  built: boolean
  seconds: number
}

/** The label that carries the content hash on every image this builds. */
export const HASH_LABEL = 'berth.context'

/** The content hash of a build's inputs, 12 hex digits (what tags and labels carry). */
export async function buildHash(input: Pick<ImageBuildInput, 'context' | 'dockerfile' | 'args' | 'extra'>): Promise<string> {
  const hash = createHash('sha256').update(await contextHash(input.context, ''))
  if (input.dockerfile) hash.update('\0dockerfile\0').update(await readFile(input.dockerfile))
  const args = Object.entries(input.args ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  hash.update('\0args\0').update(JSON.stringify(args)).update('\0extra\0').update(input.extra ?? '')
  return hash.digest('hex').slice(0, 12)
}

/** The `docker build` argv (without `docker`) for an input whose hash is known. */
export function buildArgs(input: ImageBuildInput, tag: string, hash: string): string[] {
  const args = ['build', '-q']
  if (input.dockerfile) args.push('-f', input.dockerfile)
  for (const [name, value] of Object.entries(input.args ?? {})) args.push('--build-arg', `${name}=${value}`)
  for (const [name, value] of Object.entries({...input.labels, [HASH_LABEL]: hash})) args.push('--label', `${name}=${value}`)
  args.push('-t', tag, input.context)
  return args
}

/** Builds the image unless the host's dockerd has `tag` with this hash already. */
export async function buildImage(input: ImageBuildInput): Promise<ImageBuildResult> {
  const started = performance.now()
  const {execa} = await import('execa')
  const hash = await buildHash(input)
  const tag = input.tag ?? `${input.repository}:${hash}`
  const label = await execa('docker', ['image', 'inspect', '--format', `{{index .Config.Labels "${HASH_LABEL}"}}`, tag], {reject: false})
  const seconds = () => (performance.now() - started) / 1000
  if (label.exitCode === 0 && label.stdout.trim() === hash) return {tag, hash, built: false, seconds: seconds()}
  // The classic builder: dockerd 20.10 here has no buildx, and the other builders use it too.
  const built = await execa('docker', buildArgs(input, tag, hash), {reject: false, all: true, env: {DOCKER_BUILDKIT: '0'}})
  if (built.exitCode !== 0) throw new BerthError(`docker build of ${tag} from ${input.context} failed: ${outputTail(built.all, 5)}`)
  return {tag, hash, built: true, seconds: seconds()}
}
