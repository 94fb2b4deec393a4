import {createHash} from 'node:crypto'
import {readFile} from 'node:fs/promises'

import {contextHash} from './base.js'
import {buildArgv, ensureImage, type ImageToEnsure} from './ensure.js'

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
  return buildArgv(toEnsure(input, tag, hash))
}

/** Builds the image unless the host's dockerd has `tag` with this hash already. */
export async function buildImage(input: ImageBuildInput): Promise<ImageBuildResult> {
  const hash = await buildHash(input)
  const tag = input.tag ?? `${input.repository}:${hash}`
  return {...await ensureImage(toEnsure(input, tag, hash)), hash}
}

/** What buildImage would do, and changes nothing: the tag, and whether the host's dockerd has it with this hash already. */
export async function plannedBuild(input: ImageBuildInput): Promise<{tag: string; hash: string; current: boolean}> {
  const hash = await buildHash(input)
  const tag = input.tag ?? `${input.repository}:${hash}`
  return {tag, hash, current: await hasHash(tag, hash)}
}

/** The image `ensureImage` makes of a build input: current when its tag carries the hash label. */
function toEnsure(input: ImageBuildInput, tag: string, hash: string): ImageToEnsure {
  const args = input.dockerfile ? ['-f', input.dockerfile] : []
  for (const [name, value] of Object.entries(input.args ?? {})) args.push('--build-arg', `${name}=${value}`)
  for (const [name, value] of Object.entries({...input.labels, [HASH_LABEL]: hash})) args.push('--label', `${name}=${value}`)
  return {
    tag,
    args,
    context: input.context,
    isCurrent: () => hasHash(tag, hash),
    output: {stream: false, quiet: true, failure: (tail) => `docker build of ${tag} from ${input.context} failed: ${tail}`, tailLines: 5},
  }
}

/** Whether the host's dockerd has `tag` with the content hash `hash`. */
async function hasHash(tag: string, hash: string): Promise<boolean> {
  const {execa} = await import('execa')
  const label = await execa('docker', ['image', 'inspect', '--format', `{{index .Config.Labels "${HASH_LABEL}"}}`, tag], {reject: false})
  return label.exitCode === 0 && label.stdout.trim() === hash
}
