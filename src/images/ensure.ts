import {execa} from 'execa'

import {BerthError, outputTail} from '../errors.js'
import {imageId, streamed, type Progress} from './base.js'

/**
 * The one way berth makes sure an image of its own exists: the caller names it by a tag
 * that carries the hash of its inputs, and it is built only when dockerd has no image at
 * that tag (or a rebuild is asked for). The node, registry, balancer and installer images
 * use it; service and example images do too, through build.ts.
 */

/** An image to make sure of. */
export interface ImageToEnsure {
  /** The content-hash tag. */
  tag: string
  /** More tags given to the image, built or found (the installer's `latest`). */
  alsoTag?: string[]
  /** `docker build` arguments before the tags: build args and labels. */
  args: string[]
  /** The build context directory, or `-` with the Dockerfile as `dockerfile`. */
  context: string
  dockerfile?: string
  /** Build again without the layer cache, whether or not the tag exists. */
  rebuild?: boolean
  /** Whether the image at `tag` is the one these inputs make (default: dockerd has the tag). */
  isCurrent?: (tag: string) => Promise<boolean>
  /** Runs before a build only (the installer's `npm ci`). */
  prepare?: () => Promise<void>
  onProgress?: Progress
  /** How the build reports: every output line to `onProgress` (`stream`), or one line before it and its output's tail on failure. */
  output: {stream: true} | {stream: false; announce?: string; quiet?: boolean; failure: (tail: string) => string; tailLines: number}
}

/** What `ensureImage` did. */
export interface EnsuredImage {
  tag: string
  built: boolean
  seconds: number
}

/** Builds the image unless it is current; gives it its extra tags either way. */
export async function ensureImage(image: ImageToEnsure): Promise<EnsuredImage> {
  const started = performance.now()
  const progress = image.onProgress ?? (() => {})
  const built = image.rebuild === true || !(await (image.isCurrent ?? exists)(image.tag))
  if (built) {
    await image.prepare?.()
    await dockerBuild(buildArgv(image), image, progress)
  } else {
    for (const tag of image.alsoTag ?? []) await execa('docker', ['tag', image.tag, tag])
  }
  return {tag: image.tag, built, seconds: (performance.now() - started) / 1000}
}

/** The `docker build` argv (without `docker`) of an image. */
export function buildArgv(image: Pick<ImageToEnsure, 'tag' | 'alsoTag' | 'args' | 'context' | 'rebuild' | 'output'>): string[] {
  const tags = [image.tag, ...(image.alsoTag ?? [])].flatMap((tag) => ['-t', tag])
  const quiet = !image.output.stream && image.output.quiet === true
  return ['build', ...(quiet ? ['-q'] : []), ...(image.rebuild ? ['--no-cache'] : []), ...image.args, ...tags, image.context]
}

async function exists(tag: string): Promise<boolean> {
  return (await imageId(tag)) !== undefined
}

async function dockerBuild(argv: string[], image: ImageToEnsure, progress: Progress): Promise<void> {
  // The classic builder is what dockerd 20.10 without buildx offers; saying so silences its notice.
  const env = {DOCKER_BUILDKIT: '0'}
  const {output} = image
  if (output.stream) {
    await streamed('docker', argv, {input: image.dockerfile, env}, progress)
    return
  }
  if (output.announce !== undefined) progress(output.announce)
  const result = await execa('docker', argv, {input: image.dockerfile, env, reject: false, all: true})
  if (result.exitCode !== 0) throw new BerthError(output.failure(outputTail(result.all ?? result.message, output.tailLines)))
}
