import type {ServiceSpec} from '../spec/service.js'

/**
 * Image references as Docker reads them: taken apart, qualified with the cluster's registry,
 * and written as the unit runs them (pinned by digest). Pure; the agent, the installer, the
 * digest lookup and auto-upgrade all use these.
 */

/** An image reference taken apart: `registry/repository:tag@digest`. */
export interface ImageReference {
  /** host[:port]; undefined when the name has none (Docker Hub, or an image only on the host). */
  registry?: string
  repository: string
  /** The tag as written, or `latest` when none is. */
  tag: string
  /** `sha256:…` when the reference is pinned already. */
  digest?: string
}

const digestPattern = /^sha256:[0-9a-f]{64}$/

/** Whether the text is a sha256 digest as registries write it. */
export function isDigest(text: string): boolean {
  return digestPattern.test(text)
}

/** Takes a reference apart by Docker's rule: a first component with a dot or a port, or `localhost`, is a host. */
export function parseReference(image: string): ImageReference {
  const at = image.indexOf('@')
  const digest = at < 0 ? undefined : image.slice(at + 1)
  const named = at < 0 ? image : image.slice(0, at)
  const slash = named.indexOf('/')
  const first = slash < 0 ? '' : named.slice(0, slash)
  const hasHost = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')
  const rest = hasHost ? named.slice(slash + 1) : named
  const colon = rest.lastIndexOf(':')
  const tagged = colon > rest.lastIndexOf('/')
  return {
    ...(hasHost ? {registry: first} : {}),
    repository: tagged ? rest.slice(0, colon) : rest,
    tag: tagged ? rest.slice(colon + 1) : 'latest',
    ...(digest === undefined ? {} : {digest}),
  }
}

/** The reference without its tag or digest: `registry/repository`, what `@sha256:…` is appended to. */
export function repositoryOf(image: string): string {
  const ref = parseReference(image)
  return ref.registry === undefined ? ref.repository : `${ref.registry}/${ref.repository}`
}

/** The image reference to run: the cluster's registry is put in front of names without a registry host. */
export function qualifiedImage(image: string, registry: string | undefined): string {
  return parseReference(image).registry !== undefined || registry === undefined ? image : `${registry}/${image}`
}

/**
 * The image a unit runs: pinned, `registry/repository@sha256:…` (the tag left out, so docker
 * pulls and runs exactly that manifest), else the reference as written, qualified.
 */
export function runImage(spec: Pick<ServiceSpec, 'image' | 'imageDigest'>, registry: string | undefined): string {
  const image = qualifiedImage(spec.image, registry)
  if (spec.imageDigest === undefined) return image
  // The tag is the colon after the last slash; a registry's port comes before it.
  const colon = image.lastIndexOf(':')
  return `${colon > image.lastIndexOf('/') ? image.slice(0, colon) : image}@${spec.imageDigest}`
}
