import {createHash} from 'node:crypto'

import {BerthError} from '../errors.js'

/**
 * Resolves an image's tag to the digest its registry serves for it now: `HEAD
 * /v2/<name>/manifests/<tag>` with the four manifest types accepted (a registry answers only
 * for types the request accepts, and an index's digest is what every machine pulls by), its
 * `Docker-Content-Digest` header. A registry that answers 401 with `WWW-Authenticate: Bearer
 * realm=…` gets a token first (with the pull credentials, when there are some); one that
 * asks for Basic gets them directly. Used by the admin API's PUT (every stored spec is
 * pinned) and by the leader's auto-upgrade; only `fetch`, no client library.
 */

/** The manifest types a lookup accepts: Docker v2 manifest and list, OCI manifest and index. */
export const MANIFEST_TYPES = [
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
] as const

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

/** Pull credentials for one registry (docker's `auths` entry). */
export interface RegistryCredentials {
  username: string
  password: string
}

/** How to reach a registry. */
export interface DigestOptions {
  /** The registry speaks plain HTTP (the cluster's registry with `insecure: true`). */
  plainHttp?: boolean
  credentials?: RegistryCredentials
  /** Per request (default 10 s). */
  timeoutMs?: number
}

/** A tag that cannot be resolved: the registry is down, refuses, or has no such tag. */
export class DigestError extends BerthError {}

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

/** The digest `reference`'s tag points at now; throws DigestError saying why not. */
export async function resolveDigest(reference: string, options: DigestOptions = {}): Promise<string> {
  const ref = parseReference(reference)
  if (ref.registry === undefined) throw new DigestError(`${reference} names no registry host, so it has no registry to resolve its tag at`)
  const url = `${options.plainHttp ? 'http' : 'https'}://${ref.registry}/v2/${ref.repository}/manifests/${ref.tag}`
  const where = `registry ${ref.registry}: ${ref.repository}:${ref.tag}`
  let answer = await request(url, 'HEAD', undefined, options, where)
  if (answer.status === 401) {
    const authorization = await authorize(answer.headers.get('www-authenticate') ?? '', options, where)
    answer = await request(url, 'HEAD', authorization, options, where)
    // Some registries answer a HEAD without the header; the manifest's own sha256 is the digest then.
    if (answer.ok && !answer.headers.get('docker-content-digest')) answer = await request(url, 'GET', authorization, options, where)
  } else if (answer.ok && !answer.headers.get('docker-content-digest')) {
    answer = await request(url, 'GET', undefined, options, where)
  }
  if (answer.status === 404) throw new DigestError(`${where}: no such tag; push the image first (berth images build --push, or docker push)`)
  if (answer.status === 401 || answer.status === 403) throw new DigestError(`${where}: the registry refused the lookup (HTTP ${answer.status}); give the machines pull credentials for ${ref.registry} (docker login)`)
  if (!answer.ok) throw new DigestError(`${where}: the registry answered HTTP ${answer.status}`)
  const header = answer.headers.get('docker-content-digest') ?? undefined
  const digest = header ?? (answer.body === undefined ? undefined : `sha256:${createHash('sha256').update(answer.body).digest('hex')}`)
  if (digest === undefined || !isDigest(digest)) throw new DigestError(`${where}: the registry gave no usable digest (${JSON.stringify(header ?? null)})`)
  return digest
}

interface Answer {
  status: number
  ok: boolean
  headers: Headers
  body?: Buffer
}

async function request(url: string, method: 'HEAD' | 'GET', authorization: string | undefined, options: DigestOptions, where: string): Promise<Answer> {
  const headers: Record<string, string> = {Accept: MANIFEST_TYPES.join(', ')}
  if (authorization !== undefined) headers.Authorization = authorization
  try {
    const response = await fetch(url, {method, headers, redirect: 'follow', signal: AbortSignal.timeout(options.timeoutMs ?? 10_000)})
    const body = method === 'GET' && response.ok ? Buffer.from(await response.arrayBuffer()) : undefined
    if (method === 'HEAD' || !response.ok) await response.body?.cancel()
    return {status: response.status, ok: response.ok, headers: response.headers, body}
  } catch (error) {
    const cause = (error as {cause?: {code?: string; message?: string}}).cause
    throw new DigestError(`${where}: cannot reach the registry (${cause?.code ?? cause?.message ?? (error as Error).message}); check that it runs and that this machine can reach it`, {cause: error})
  }
}

/** The Authorization header a 401's challenge asks for: a bearer token from its realm, or the credentials as Basic. */
async function authorize(challenge: string, options: DigestOptions, where: string): Promise<string> {
  const scheme = challenge.trim().split(/\s+/, 1)[0]?.toLowerCase()
  const basic = options.credentials && `Basic ${Buffer.from(`${options.credentials.username}:${options.credentials.password}`).toString('base64')}`
  if (scheme === 'basic') {
    if (!basic) throw new DigestError(`${where}: the registry asks for a user name and password; give the machines pull credentials (docker login)`)
    return basic
  }
  if (scheme !== 'bearer') throw new DigestError(`${where}: the registry answered 401 with an unknown challenge (${JSON.stringify(challenge.slice(0, 80))})`)
  const params = challengeParams(challenge)
  if (!params.realm) throw new DigestError(`${where}: the registry's bearer challenge names no realm`)
  const tokenUrl = new URL(params.realm)
  for (const key of ['service', 'scope'] as const) if (params[key]) tokenUrl.searchParams.set(key, params[key])
  let response: Response
  try {
    response = await fetch(tokenUrl, {headers: basic ? {Authorization: basic} : {}, signal: AbortSignal.timeout(options.timeoutMs ?? 10_000)})
  } catch (error) {
    throw new DigestError(`${where}: cannot reach the token server ${tokenUrl.origin} (${(error as Error).message})`, {cause: error})
  }
  if (!response.ok) {
    await response.body?.cancel()
    throw new DigestError(`${where}: the token server ${tokenUrl.origin} refused a token (HTTP ${response.status})${basic ? '' : '; give the machines pull credentials (docker login)'}`)
  }
  const body = await response.json().catch(() => ({})) as {token?: unknown; access_token?: unknown}
  const token = typeof body.token === 'string' ? body.token : typeof body.access_token === 'string' ? body.access_token : undefined
  if (!token) throw new DigestError(`${where}: the token server ${tokenUrl.origin} answered without a token`)
  return `Bearer ${token}`
}

/** `Bearer realm="…",service="…",scope="…"` as a map. */
export function challengeParams(challenge: string): Record<string, string> {
  const params: Record<string, string> = {}
  for (const m of challenge.replace(/^\s*\S+\s*/, '').matchAll(/([a-zA-Z_]+)\s*=\s*(?:"([^"]*)"|([^,\s]*))/g)) {
    params[(m[1] as string).toLowerCase()] = m[2] ?? m[3] ?? ''
  }
  return params
}
