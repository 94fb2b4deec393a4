/**
 * The digest lookup against the real test registry: a pushed tag resolves to the digest
 * docker pushed, a new push under the same tag moves it, an index (OCI and Docker list) is
 * resolved as the index itself (which needs its Accept type), and a registry behind a 401
 * bearer challenge (a loopback token server in front of the real one) is asked with a token
 * got with the pull credentials.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {after, describe, it} from 'node:test'

import {challengeParams, DigestError, parseReference, repositoryOf, resolveDigest} from '../../src/images/digest.js'
import {pinSpec, registryLookup, unpinnable} from '../../src/images/pin.js'
import {runImage} from '../../src/agent/docker-run.js'
import {validateServiceSpec} from '../../src/spec/service.js'
import {registryAddress} from '../support/services.js'
import {freePort} from '../agent/store-support.js'
import {bearerFront, pushTestImage, putIndex, removeImages} from '../support/registry-images.js'

const registry = registryAddress()
const repo = `berth-digest-${randomBytes(4).toString('hex')}`
const images: string[] = []
after(() => removeImages(images))

describe('references', () => {
  it('takes references apart by Docker\'s host rule', () => {
    assert.deepEqual(parseReference('10.0.0.2:5000/team/web:1.2'), {registry: '10.0.0.2:5000', repository: 'team/web', tag: '1.2'})
    assert.deepEqual(parseReference('localhost/web'), {registry: 'localhost', repository: 'web', tag: 'latest'})
    assert.deepEqual(parseReference('team/web:1'), {repository: 'team/web', tag: '1'})
    assert.deepEqual(parseReference(`reg.example.com/web:1@sha256:${'a'.repeat(64)}`), {registry: 'reg.example.com', repository: 'web', tag: '1', digest: `sha256:${'a'.repeat(64)}`})
    assert.equal(repositoryOf('10.0.0.2:5000/web:1.2'), '10.0.0.2:5000/web')
  })

  it('units run repository@digest, the tag left out; an unpinned image as written', () => {
    const digest = `sha256:${'b'.repeat(64)}`
    assert.equal(runImage({image: 'web:1.2', imageDigest: digest}, '10.0.0.2:5000'), `10.0.0.2:5000/web@${digest}`)
    assert.equal(runImage({image: '10.0.0.2:5000/web', imageDigest: digest}, undefined), `10.0.0.2:5000/web@${digest}`)
    assert.equal(runImage({image: 'web:1.2'}, '10.0.0.2:5000'), '10.0.0.2:5000/web:1.2')
  })

  it('reads a bearer challenge\'s parameters', () => {
    assert.deepEqual(challengeParams('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:web:pull"'), {
      realm: 'https://auth.example.com/token', service: 'registry.example.com', scope: 'repository:web:pull',
    })
  })
})

describe('resolveDigest against the real test registry', () => {
  it('resolves a pushed tag to the pushed digest, and follows a new push under the same tag', async () => {
    const first = await pushTestImage(registry, repo, '1', 'first build')
    images.push(first.id)
    assert.match(first.digest, /^sha256:[0-9a-f]{64}$/)
    assert.equal(await resolveDigest(`${registry}/${repo}:1`, {plainHttp: true}), first.digest)
    const second = await pushTestImage(registry, repo, '1', 'second build')
    images.push(second.id)
    assert.notEqual(second.digest, first.digest)
    assert.equal(await resolveDigest(`${registry}/${repo}:1`, {plainHttp: true}), second.digest)
  })

  it('resolves an OCI index and a Docker manifest list to the index itself, as every platform pulls it', async () => {
    const amd = await pushTestImage(registry, repo, 'amd64', 'amd64 build')
    const arm = await pushTestImage(registry, repo, 'arm64', 'arm64 build')
    images.push(amd.id, arm.id)
    const platforms = [{digest: amd.digest, platform: {architecture: 'amd64', os: 'linux'}}, {digest: arm.digest, platform: {architecture: 'arm64', os: 'linux'}}]
    const oci = await putIndex(registry, repo, 'oci', 'application/vnd.oci.image.index.v1+json', platforms)
    assert.equal(await resolveDigest(`${registry}/${repo}:oci`, {plainHttp: true}), oci)
    const list = await putIndex(registry, repo, 'list', 'application/vnd.docker.distribution.manifest.list.v2+json', platforms)
    assert.equal(await resolveDigest(`${registry}/${repo}:list`, {plainHttp: true}), list)
    // Without the list type accepted, the registry answers for one platform's manifest instead: the Accept types matter.
    const narrow = await fetch(`http://${registry}/v2/${repo}/manifests/list`, {method: 'HEAD', headers: {Accept: 'application/vnd.docker.distribution.manifest.v2+json'}})
    assert.notEqual(narrow.headers.get('docker-content-digest'), list)
  })

  it('a tag that is not there, and a registry that does not answer, are DigestErrors that say so', async () => {
    await assert.rejects(resolveDigest(`${registry}/${repo}:missing`, {plainHttp: true}), (error: Error) => {
      assert.ok(error instanceof DigestError)
      assert.match(error.message, new RegExp(`registry ${registry}: ${repo}:missing: no such tag; push the image first`))
      return true
    })
    // A port nothing listens on (fetch refuses port 1 outright).
    const port = await freePort()
    await assert.rejects(resolveDigest(`127.0.0.1:${port}/${repo}:1`, {plainHttp: true}), new RegExp(`registry 127\\.0\\.0\\.1:${port}: .*cannot reach the registry \\(ECONNREFUSED\\)`))
    await assert.rejects(resolveDigest('web:1'), /names no registry host/)
  })

  it('pins a spec to the digest, keeps one pinned already, and leaves one without a registry as written', async () => {
    const lookup = registryLookup(() => ({plainHttp: true}))
    const spec = await validateServiceSpec({image: `${repo}:1`})
    const pinned = await pinSpec(spec, lookup, registry)
    assert.equal(pinned.imageDigest, await resolveDigest(`${registry}/${repo}:1`, {plainHttp: true}))
    assert.equal(pinned.image, `${repo}:1`, 'the image stays as its author wrote it')
    assert.equal(await pinSpec(pinned, async () => assert.fail('no lookup for a pinned spec'), registry), pinned)
    const byDigest = await validateServiceSpec({image: `${registry}/${repo}@${pinned.imageDigest}`})
    assert.equal(unpinnable(byDigest, undefined), 'pinned already')
    assert.equal(await pinSpec(byDigest, async () => assert.fail('no lookup for an image given by digest'), undefined), byDigest)
    assert.equal(unpinnable(spec, undefined), 'names no registry host')
  })
})

describe('a registry behind a 401 bearer challenge', () => {
  it('gets a token with the pull credentials, for the repository\'s pull scope, and resolves', async () => {
    const pushed = await pushTestImage(registry, repo, 'auth', 'behind a token')
    images.push(pushed.id)
    const front = await bearerFront(registry, 'puller', 's3cret-pass')
    const digest = await resolveDigest(`${front.host}/${repo}:auth`, {plainHttp: true, credentials: {username: 'puller', password: 's3cret-pass'}})
    assert.equal(digest, pushed.digest)
    assert.deepEqual(front.tokenRequests, [`berth-test repository:${repo}:pull`])
  })

  it('without the right credentials the token is refused, and the error says to give the machines credentials', async () => {
    const front = await bearerFront(registry, 'puller', 's3cret-pass')
    await assert.rejects(resolveDigest(`${front.host}/${repo}:auth`, {plainHttp: true}), (error: Error) => {
      assert.ok(error instanceof DigestError)
      assert.match(error.message, /token server http:\/\/127\.0\.0\.1:\d+ refused a token \(HTTP 401\); give the machines pull credentials/)
      assert.doesNotMatch(error.message, /s3cret/)
      return true
    })
    await assert.rejects(resolveDigest(`${front.host}/${repo}:auth`, {plainHttp: true, credentials: {username: 'puller', password: 'wrong'}}), /refused a token \(HTTP 401\)/)
  })
})
