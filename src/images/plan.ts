import type {ServiceBuild} from '../config/build.js'
import {Chain} from '../cli/chain.js'
import type {Step} from '../cli/progress.js'
import {INSTALLER_REPO} from './installer.js'
import {type PushTarget, type ServiceImage, withServiceImageSteps} from './services.js'

/**
 * `images build`: the installer image (when no service is named), then each service image
 * of cluster.yaml, built when changed and pushed when asked. A plan: each step hands on
 * what it made, `--dry-run` prints what each would build and push.
 */

/** The installer image as `images build --json` reports it. */
export interface InstallerResult {
  tag: string
  latest: string
  built: boolean
  seconds: number
  bytes: number
  pushed?: string[]
  via?: string
}

/** What `images build` is asked to do. */
export interface ImagesRequest {
  /** Build the installer image too. */
  installer: boolean
  /** Build it again without the layer cache. */
  rebuild: boolean
  builds: Array<[string, ServiceBuild]>
  /** Where to push; none builds only. */
  push?: PushTarget
}

/** What the steps made. */
export interface ImagesDone {
  installer?: InstallerResult
  images: ServiceImage[]
}

/** The steps of `images build`, and what they made once every one ran. */
export function imagesPlan(request: ImagesRequest): {steps: Step[]; result: () => ImagesDone} {
  const {push} = request
  const first = new Chain({images: [] as ServiceImage[]})
    .stepWhen(request.installer, 'Installer image', async () => installerImage(request.rebuild, push), async () => {
      const pushed = push ? `, then push both to ${push.registry}${push.viaNode ? ` (through ${push.viaNode} if this host's dockerd refuses the registry)` : ''}` : ''
      return `would build ${INSTALLER_REPO}:<version>-<content hash of berth's files, Node, the docker CLI and the base image> unless an image of that hash exists${request.rebuild ? ' (--rebuild: always, without the layer cache)' : ''}, and tag it ${INSTALLER_REPO}:latest${pushed}`
    })
  const plan = withServiceImageSteps(first, request.builds, push)
  const result = (): ImagesDone => {
    const {installer, images} = plan.result()
    return {...(installer ? {installer} : {}), images}
  }
  return {steps: plan.steps, result}
}

/** Builds the installer image (when changed) and pushes it with its `latest` tag when asked. */
async function installerImage(rebuild: boolean, push: PushTarget | undefined): Promise<{note: string; installer: InstallerResult}> {
  const {buildInstallerImage} = await import('./installer.js')
  const image: InstallerResult = await buildInstallerImage({rebuild})
  const note = `${image.built ? 'built' : 'up to date'}: ${image.tag} (${(image.bytes / 1e6).toFixed(0)} MB) in ${image.seconds.toFixed(1)} s`
  if (!push) return {note, installer: image}
  const {pushImage} = await import('./push.js')
  const pushed = await pushImage([image.tag, image.latest], push.registry, {viaNode: push.viaNode})
  return {
    note: `${note}; pushed${pushed.via === 'node' ? ' through a node (this host\'s dockerd does not trust the registry)' : ''}`,
    installer: {...image, pushed: pushed.refs, via: pushed.via},
  }
}
