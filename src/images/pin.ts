import type {ServiceSpec} from '../spec/service.js'
import {resolveDigest, type DigestOptions, type RegistryCredentials} from './digest.js'
import {parseReference, qualifiedImage} from './reference.js'

/**
 * Pinning a spec to the digest its image's tag points at now, so that every replica, on
 * every machine, and every restart later runs the same bits. The spec keeps `image` as its
 * author wrote it and gains `imageDigest`; units run `repository@digest` (runImage in
 * src/agent/plan/docker-run.ts). Pure but for the lookup, which is handed in.
 */

/** How a registry host is reached: plain HTTP or not, and with which pull credentials. */
export type RegistryAccess = (registry: string) => Promise<DigestOptions> | DigestOptions

/** Looks up the digest of a qualified reference (`registry/repository:tag`), with the service's own pull credentials when it has some. */
export type DigestLookup = (reference: string, credentials?: RegistryCredentials) => Promise<string>

/** A lookup over the real registries, each reached as `access` says; a service's credentials win over the node's. */
export function registryLookup(access: RegistryAccess): DigestLookup {
  return async (reference, credentials) => {
    const options = await access(parseReference(reference).registry ?? '')
    return resolveDigest(reference, credentials ? {...options, credentials} : options)
  }
}

/**
 * Why a spec is stored as written, without a lookup, or undefined when it is to be pinned: its
 * image is pinned already (by `@sha256:` or `imageDigest`), or names no registry to ask (a
 * Docker Hub name on a node without a cluster registry, a `localhost/` image only on the host).
 */
export function unpinnable(spec: Pick<ServiceSpec, 'image' | 'imageDigest'>, registry: string | undefined): string | undefined {
  if (spec.imageDigest !== undefined || parseReference(spec.image).digest !== undefined) return 'pinned already'
  const host = parseReference(qualifiedImage(spec.image, registry)).registry
  if (host === undefined) return 'names no registry host'
  // `localhost/NAME` without a port is an image built or loaded on the machine itself (Podman's
  // name for them); no registry serves it, so there is no digest to ask for.
  if (host === 'localhost') return 'a local image (localhost/…)'
  return undefined
}

/** The spec with `imageDigest` set to what its tag points at now; a spec that cannot be pinned is returned as it is. */
export async function pinSpec(spec: ServiceSpec, lookup: DigestLookup, registry: string | undefined, credentials?: RegistryCredentials): Promise<ServiceSpec> {
  if (unpinnable(spec, registry) !== undefined) return spec
  return {...spec, imageDigest: await lookup(qualifiedImage(spec.image, registry), credentials)}
}
