import {createHash, randomBytes} from 'node:crypto'
import {createServer, type IncomingMessage, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after} from 'node:test'

import {execa} from 'execa'

import {pushImage} from '../../src/images/push.js'

/**
 * Images for digest tests, on the real test registry: a one-file image built FROM scratch
 * (nothing is pulled) pushed under a tag, and a hand-made index over pushed manifests, PUT
 * straight to the registry (dockerd 20.10 has no buildx to build a multi-platform image).
 */

/** Builds a one-file image from `content` as `repo:tag`, pushes it to `registry`, and returns the digest docker recorded and the local image id. */
export async function pushTestImage(registry: string, repo: string, tag: string, content: string): Promise<{digest: string; id: string}> {
  const context = await mkdtemp(path.join(tmpdir(), 'berth-digest-'))
  try {
    await writeFile(path.join(context, 'hello'), content)
    await writeFile(path.join(context, 'Dockerfile'), 'FROM scratch\nCOPY hello /hello\n')
    await execa('docker', ['build', '-q', '-t', `${repo}:${tag}`, context], {env: {DOCKER_BUILDKIT: '0'}})
  } finally {
    await rm(context, {recursive: true, force: true})
  }
  await pushImage([`${repo}:${tag}`], registry)
  const id = (await execa('docker', ['image', 'inspect', '--format', '{{.Id}}', `${repo}:${tag}`])).stdout
  // The push left no registry-named tag, so the digest is asked of the registry with the v2 manifest type alone.
  const head = await fetch(`http://${registry}/v2/${repo}/manifests/${tag}`, {method: 'HEAD', headers: {Accept: 'application/vnd.docker.distribution.manifest.v2+json'}})
  return {digest: head.headers.get('docker-content-digest') ?? '', id}
}

/** PUTs an index (`mediaType`: OCI index or Docker manifest list) of the manifests under `repo:tag`; returns the sha256 of its bytes. */
export async function putIndex(registry: string, repo: string, tag: string, mediaType: string, manifests: {digest: string; platform: {architecture: string; os: string}}[]): Promise<string> {
  const entries = []
  for (const m of manifests) {
    const got = await fetch(`http://${registry}/v2/${repo}/manifests/${m.digest}`, {headers: {Accept: 'application/vnd.docker.distribution.manifest.v2+json'}})
    const bytes = Buffer.from(await got.arrayBuffer())
    entries.push({mediaType: got.headers.get('content-type'), digest: m.digest, size: bytes.length, platform: m.platform})
  }
  const body = Buffer.from(JSON.stringify({schemaVersion: 2, mediaType, manifests: entries}))
  const put = await fetch(`http://${registry}/v2/${repo}/manifests/${tag}`, {method: 'PUT', headers: {'content-type': mediaType}, body})
  if (put.status !== 201) throw new Error(`PUT of the index answered ${put.status}: ${await put.text()}`)
  return `sha256:${createHash('sha256').update(body).digest('hex')}`
}

/** Removes the local images the tests built. */
export async function removeImages(ids: readonly string[]): Promise<void> {
  if (ids.length > 0) await execa('docker', ['image', 'rm', '-f', ...ids], {reject: false})
}

/** A loopback registry front that asks for a bearer token (got with Basic credentials from its own /token), then passes requests on to the real registry. */
export async function bearerFront(upstream: string, user: string, password: string): Promise<{url: string; host: string; tokenRequests: string[]; server: Server}> {
  const token = randomBytes(8).toString('hex')
  const tokenRequests: string[] = []
  let host = ''
  const server = createServer((req: IncomingMessage, res) => {
    const url = new URL(req.url ?? '/', `http://${host}`)
    if (url.pathname === '/token') {
      tokenRequests.push(`${url.searchParams.get('service')} ${url.searchParams.get('scope')}`)
      const ok = req.headers.authorization === `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
      res.writeHead(ok ? 200 : 401, {'content-type': 'application/json'}).end(JSON.stringify(ok ? {token} : {errors: [{code: 'UNAUTHORIZED'}]}))
      return
    }
    if (req.headers.authorization !== `Bearer ${token}`) {
      const scope = `repository:${url.pathname.replace(/^\/v2\/(.*)\/manifests\/.*$/, '$1')}:pull`
      res.writeHead(401, {'www-authenticate': `Bearer realm="http://${host}/token",service="berth-test",scope="${scope}"`}).end()
      return
    }
    void fetch(`http://${upstream}${url.pathname}`, {method: req.method, headers: {accept: req.headers.accept ?? ''}}).then(async (answer) => {
      const digest = answer.headers.get('docker-content-digest')
      res.writeHead(answer.status, digest ? {'docker-content-digest': digest} : {}).end(Buffer.from(await answer.arrayBuffer()))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`
  after(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return {url: `http://${host}`, host, tokenRequests, server}
}
