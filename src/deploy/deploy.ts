import type {ApiClient} from '../access/api-client.js'
import {canonicalJson} from '../hash.js'
import {type ServiceSpec, validateServiceSpec} from '../spec/service.js'
import type {Step} from '../cli/progress.js'
import type {Cluster} from '../config/types.js'
import {UsageError} from '../errors.js'
import {type PushTarget, type ServiceImage, selectBuilds, serviceImageSteps} from '../images/services.js'

/**
 * `berth deploy`: cluster.yaml's services as the cluster should run them. Builds and
 * pushes the images of those with `build`, PUTs each spec that differs from the stored one
 * (with `image` set to the built tag, `build` left out), and hands the changed ones to the
 * roll-out (src/deploy/rollout.ts).
 */

/** What the plan found and did, filled in as its steps run. */
export interface DeployState {
  images: ServiceImage[]
  /** The specs as the cluster should store them, by service. */
  desired: Map<string, ServiceSpec>
  changed: Map<string, ServiceSpec>
  /** When the first PUT went out: agent passes before it saw the old specs. */
  sentAt?: number
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
export async function desiredSpec(cluster: Cluster, service: string, images: readonly ServiceImage[]): Promise<ServiceSpec> {
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

/** The steps: one per image, then comparing with the stored specs, then one PUT per changed service. */
export function deploySteps(cluster: Cluster, services: string[], push: PushTarget, client: () => Promise<ApiClient>, state: DeployState): Step[] {
  const builds = selectBuilds(cluster, []).filter(([name]) => services.includes(name))
  return [
    ...serviceImageSteps(builds, push, state.images),
    {
      title: 'Compare with the specs the cluster stores',
      run: async () => {
        const stored = new Map((await (await client()).services()).map((s) => [s.name, s.spec]))
        for (const service of services) {
          const spec = await desiredSpec(cluster, service, state.images)
          state.desired.set(service, spec)
          if (specChanged(stored.get(service), spec)) state.changed.set(service, spec)
        }
        return state.changed.size === 0 ? 'nothing changed' : `changed: ${[...state.changed.keys()].join(', ')}`
      },
    },
    {
      title: 'Send the changed specs to the admin API',
      run: async () => {
        if (state.changed.size === 0) return 'nothing to send'
        const api = await client()
        state.sentAt = Date.now()
        for (const [service, spec] of state.changed) await api.putService(service, spec)
        return `${state.changed.size} sent`
      },
    },
  ]
}
