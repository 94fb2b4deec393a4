import type {ApiClient} from '../access/api-client.js'
import {canonicalJson} from '../hash.js'
import {type ServiceSpec, validateServiceSpec} from '../spec/service.js'
import {Chain} from '../cli/chain.js'
import type {Step} from '../cli/progress.js'
import type {Cluster} from '../config/types.js'
import {UsageError} from '../errors.js'
import {type PushTarget, type ServiceImage, plannedServiceImage, selectBuilds, withServiceImageSteps} from '../images/services.js'
import type {RolloutOutcome} from './rollout.js'

/**
 * `berth deploy`: cluster.yaml's services as the cluster should run them. Builds and
 * pushes the images of those with `build`, PUTs each spec that differs from the stored one
 * (with `image` set to the built tag, `build` left out), and hands the changed ones to the
 * roll-out (src/deploy/rollout.ts).
 */

/** What `berth deploy` is asked to do. */
export interface DeployRequest {
  cluster: Cluster
  /** The services of cluster.yaml to deploy (selectServices). */
  services: string[]
  push: PushTarget
  /** The flow's admin API client, opened on first use. */
  client: () => Promise<ApiClient>
  /** Return after the PUT, without waiting for the machines. */
  detach: boolean
  /** How long the machines may take to run the changed services. */
  timeoutMs: number
}

/** What the plan found and did, once every step ran. */
export interface DeployDone {
  images: ServiceImage[]
  /** The specs as the cluster should store them, by service. */
  desired: Map<string, ServiceSpec>
  changed: Map<string, ServiceSpec>
  /** Each changed service's roll-out (none with detach, or when nothing changed). */
  outcomes: RolloutOutcome[]
}

/** The services to deploy: the named ones (every service of cluster.yaml when none is named). */
export function selectServices(cluster: Cluster, names: readonly string[]): string[] {
  const all = Object.keys(cluster.services)
  if (names.length === 0) return all
  const unknown = names.filter((n) => !all.includes(n))
  if (unknown.length > 0) {
    throw new UsageError(unknown.map((n) => ({path: n, message: 'is not a service of cluster.yaml', fix: all.length > 0 ? `name one of: ${all.join(', ')}` : 'add it under services: in cluster.yaml'})))
  }
  return [...names]
}

/** The spec to store: cluster.yaml's (already without `build`), with the built tag as its image. */
export async function desiredSpec(cluster: Cluster, service: string, images: readonly Pick<ServiceImage, 'service' | 'tag'>[]): Promise<ServiceSpec> {
  const built = images.find((i) => i.service === service)
  const raw = {...cluster.services[service], ...(built ? {image: built.tag} : {})}
  return validateServiceSpec(raw, {file: cluster.file, path: `services/${service}`})
}

/**
 * Whether the stored spec differs from the desired one (both with defaults filled in). The
 * stored one carries the digest its tag was pinned to when it was PUT, cluster.yaml's does
 * not: that digest is left out of the comparison unless cluster.yaml pins one itself.
 */
export function specChanged(stored: ServiceSpec | undefined, desired: ServiceSpec): boolean {
  if (stored === undefined) return true
  const {imageDigest, ...unpinned} = stored
  return canonicalJson(desired.imageDigest === undefined && imageDigest !== undefined ? unpinned : stored) !== canonicalJson(desired)
}

/** The desired specs of `services` and those of them that differ from the stored ones, given the images' tags. */
async function changes(request: DeployRequest, images: readonly Pick<ServiceImage, 'service' | 'tag'>[]): Promise<{desired: Map<string, ServiceSpec>; changed: Map<string, ServiceSpec>}> {
  const stored = new Map((await (await request.client()).services()).map((s) => [s.name, s.spec]))
  const desired = new Map<string, ServiceSpec>()
  const changed = new Map<string, ServiceSpec>()
  for (const service of request.services) {
    const spec = await desiredSpec(request.cluster, service, images)
    desired.set(service, spec)
    if (specChanged(stored.get(service), spec)) changed.set(service, spec)
  }
  return {desired, changed}
}

const listed = (changed: Map<string, ServiceSpec>): string => [...changed].map(([service, spec]) => `${service} (image ${spec.image})`).join(', ')

/**
 * The steps: one per image, then comparing with the stored specs, one PUT per changed
 * service, and (unless detached) the wait for the machines. Each hands on what it found;
 * the previews compute the images' tags without building and read the stored specs.
 */
export function deployPlan(request: DeployRequest): {steps: Step[]; result: () => DeployDone} {
  const builds = selectBuilds(request.cluster, []).filter(([name]) => request.services.includes(name))
  // The previews' one reading of the world: the tags the images would get, then the specs that would change.
  let forecast: Promise<{desired: Map<string, ServiceSpec>; changed: Map<string, ServiceSpec>}> | undefined
  const planned = () => (forecast ??= Promise.all(builds.map(([service, build]) => plannedServiceImage(service, build, request.push))).then((images) => changes(request, images)))
  const api = async () => (await request.client()).url
  const plan = withServiceImageSteps(new Chain({images: [] as ServiceImage[]}), builds, request.push)
    .step('Compare with the specs the cluster stores', async ({images}) => {
      const {desired, changed} = await changes(request, images)
      return {note: changed.size === 0 ? 'nothing changed' : `changed: ${[...changed.keys()].join(', ')}`, desired, changed}
    }, async () => {
      const {desired, changed} = await planned()
      const unchanged = [...desired.keys()].filter((s) => !changed.has(s))
      return `would read the stored specs through ${await api()} and compare ${request.services.join(', ')}: ${changed.size === 0 ? 'nothing changed' : `changed: ${listed(changed)}`}${changed.size > 0 && unchanged.length > 0 ? `; unchanged: ${unchanged.join(', ')}` : ''}`
    })
    .step('Send the changed specs to the admin API', async ({changed}) => {
      if (changed.size === 0) return {note: 'nothing to send', sentAt: undefined}
      const client = await request.client()
      const sentAt = Date.now()
      for (const [service, spec] of changed) await client.putService(service, spec)
      return {note: `${changed.size} sent`, sentAt}
    }, async () => {
      const {changed} = await planned()
      return changed.size === 0 ? 'nothing to send' : `would PUT ${listed(changed)} through ${await api()}`
    })
    .stepWhen(!request.detach, 'Wait until every machine runs the changed services', async ({changed, sentAt}) => {
      if (changed.size === 0) return {note: 'nothing changed', outcomes: []}
      const {rollOut} = await import('./rollout.js')
      const outcomes = await rollOut(request.cluster, changed, {since: sentAt ?? Date.now(), timeoutMs: request.timeoutMs})
      const late = outcomes.filter((o) => !o.ok).map((o) => o.service)
      return {note: late.length === 0 ? `${[...changed.keys()].join(', ')} active` : `not done: ${late.join(', ')}`, outcomes}
    }, async () => {
      const {changed} = await planned()
      return changed.size === 0 ? 'nothing changed: nothing to wait for' : `would wait up to ${Math.round(request.timeoutMs / 1000)} s until every machine that runs ${[...changed.keys()].join(', ')} has it active`
    })
  const result = (): DeployDone => {
    const {images, desired, changed, outcomes} = plan.result()
    return {images, desired, changed, outcomes: outcomes ?? []}
  }
  return {steps: plan.steps, result}
}
