import type {Chain} from '../cli/chain.js'
import type {ServiceBuild} from '../config/build.js'
import type {Cluster} from '../config/types.js'
import {UsageError} from '../errors.js'
import {buildImage, plannedBuild} from './build.js'
import {pushImage} from './push.js'

/**
 * The images of cluster.yaml's services that carry `build`: each built from its context
 * into `repository:<content hash>` (src/images/build.ts), and pushed to the cluster's
 * registry unless the registry has that tag already.
 */

/** One service's image, as `images build --json` and `deploy --json` report it. */
export interface ServiceImage {
  service: string
  /** The tag relative to the cluster's registry, as the stored spec's `image` carries it. */
  tag: string
  built: boolean
  pushed: boolean
}

/** The builds of the named services (every service with `build` when none is named); other names are a usage error listing the ones that build. */
export function selectBuilds(cluster: Cluster, names: readonly string[]): Array<[string, ServiceBuild]> {
  const builds = cluster.builds ?? {}
  if (names.length === 0) return Object.entries(builds)
  const buildable = Object.keys(builds)
  const problems = names.filter((n) => !(n in builds)).map((n) => ({
    path: n,
    message: n in cluster.services ? 'has no build in cluster.yaml' : 'is not a service of cluster.yaml',
    fix: buildable.length > 0 ? `name one of: ${buildable.join(', ')}` : 'add build: {context: DIR} to a service in cluster.yaml',
  }))
  if (problems.length > 0) throw new UsageError(problems)
  return names.map((n) => [n, builds[n] as ServiceBuild])
}

/** Builds one service's image unless an image of the same content exists. */
export async function buildServiceImage(service: string, build: ServiceBuild): Promise<{tag: string; built: boolean}> {
  const {tag, built} = await buildImage({
    context: build.context, dockerfile: build.dockerfile, args: build.args, repository: build.repository,
    labels: {'berth.image': 'service', 'berth.service': service},
  })
  return {tag, built}
}

/** Where pushes go: the cluster's registry, through a local cluster's node when the host's dockerd refuses plain HTTP. */
export interface PushTarget {
  registry: string
  insecure: boolean
  viaNode?: string
}

/** Pushes `tag` unless the registry has it; returns whether it pushed. */
export async function pushServiceImage(tag: string, target: PushTarget, progress?: (line: string) => void): Promise<boolean> {
  if (await registryHas(target, tag)) return false
  await pushImage([tag], target.registry, {viaNode: target.viaNode, progress})
  return true
}

// A registry answers a manifest HEAD only for the manifest types the request accepts.
const MANIFEST_TYPES = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
].join(', ')

/** Whether the registry has `repository:tag`; an unreachable registry counts as "no" (the push then says why). */
export async function registryHas(target: Pick<PushTarget, 'registry' | 'insecure'>, tag: string): Promise<boolean> {
  const at = tag.lastIndexOf(':')
  const url = `${target.insecure ? 'http' : 'https'}://${target.registry}/v2/${tag.slice(0, at)}/manifests/${tag.slice(at + 1)}`
  const answer = await fetch(url, {method: 'HEAD', headers: {Accept: MANIFEST_TYPES}, signal: AbortSignal.timeout(3000)}).catch(() => undefined)
  return answer?.status === 200
}

/** What a service image's step would do, read from the host's dockerd and the registry; changes nothing. */
export interface PlannedServiceImage {
  service: string
  tag: string
  /** No image of this content on the host: it would be built. */
  build: boolean
  /** Asked to push, and the registry lacks the tag. */
  push: boolean
}

/** The tag of one service's image and whether it would be built and pushed, without building or pushing. */
export async function plannedServiceImage(service: string, build: ServiceBuild, push: PushTarget | undefined): Promise<PlannedServiceImage> {
  const {tag, current} = await plannedBuild({context: build.context, dockerfile: build.dockerfile, args: build.args, repository: build.repository})
  return {service, tag, build: !current, push: push !== undefined && !(await registryHas(push, tag))}
}

/** A planned image in words, with its arguments: the tag, the context, the Dockerfile, the args and the registry. */
export function describePlannedImage(planned: PlannedServiceImage, build: ServiceBuild, push: PushTarget | undefined): string {
  const args = Object.entries(build.args).map(([name, value]) => `${name}=${value}`).join(' ')
  const made = planned.build
    ? `would build ${planned.tag} from ${build.context} (Dockerfile ${build.dockerfile}${args ? `, args ${args}` : ''})`
    : `${planned.tag} is built already (same context, Dockerfile and args): nothing to build`
  if (!push) return made
  return `${made}; ${planned.push ? `would push it to ${push.registry}${push.viaNode ? ` (through ${push.viaNode} if this host's dockerd refuses the registry)` : ''}` : `${push.registry} has it already: nothing to push`}`
}

/**
 * Adds one step per service image to `plan`: build (when changed), then push (when asked
 * and the registry lacks it); each hands on `images` with its own added.
 */
export function withServiceImageSteps<C extends {images: ServiceImage[]}>(plan: Chain<C>, builds: Array<[string, ServiceBuild]>, push: PushTarget | undefined): Chain<C> {
  let chain = plan
  for (const [service, build] of builds) {
    chain = chain.step(`Image of ${service} (${build.repository})`, async ({images}) => {
      const image = await buildServiceImage(service, build)
      const pushed = push ? await pushServiceImage(image.tag, push) : false
      return {
        note: `${image.tag}${image.built ? ' built' : ' up to date'}${pushed ? ', pushed' : push ? ', in the registry already' : ''}`,
        images: [...images, {service, tag: image.tag, built: image.built, pushed}],
      }
    }, async () => describePlannedImage(await plannedServiceImage(service, build, push), build, push))
  }
  return chain
}
