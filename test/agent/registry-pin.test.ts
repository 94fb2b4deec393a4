/**
 * Pinning on the deploy path, against the real test registry and the real dockerd: the
 * admin API's PUT stores the spec with the digest its tag points at (and refuses, storing
 * nothing, a tag that does not resolve); the node's registry access is what its dockerd
 * uses (plain HTTP for an insecure registry, credentials from docker's config.json); and the
 * node's dockerd pulls and runs exactly the pinned reference a unit runs.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {writeFile} from 'node:fs/promises'
import path from 'node:path'
import {after, describe, it} from 'node:test'

import {execa} from 'execa'

import {runImage} from '../../src/images/reference.js'
import {configCredentials, dockerRegistryConfig, isInsecure, nodeRegistryAccess} from '../../src/agent/node/registry-access.js'
import {pinSpec, registryLookup} from '../../src/images/pin.js'
import {scratch} from '../support/cli.js'
import {bearerFront, pushTestImage, removeImages} from '../support/registry-images.js'
import {sealSecret} from '../../src/secrets/envelope.js'
import {createMasterKey, LocalKeyProvider} from '../../src/secrets/local-key.js'
import {dockerSocket, registryAddress} from '../support/services.js'
import {sendJsonBody, testApi} from './api-support.js'

const registry = registryAddress()
const repo = `berth-pin-${randomBytes(4).toString('hex')}`
const images: string[] = []
after(() => removeImages(images))

const access = nodeRegistryAccess(dockerRegistryConfig(dockerSocket()))

describe('the node\'s registry access', () => {
  it('calls a registry insecure as dockerd does: listed, or in its insecure CIDRs', () => {
    const config = {InsecureRegistryCIDRs: ['127.0.0.0/8'], IndexConfigs: {'10.0.0.2:5000': {Secure: false}, 'docker.io': {Secure: true}}}
    assert.equal(isInsecure('10.0.0.2:5000', config), true)
    assert.equal(isInsecure('127.0.0.1:5001', config), true)
    assert.equal(isInsecure('10.0.0.3:5000', config), false)
    assert.equal(isInsecure('registry.example.com', config), false)
  })

  it('reads pull credentials from docker\'s config.json, and the real dockerd calls the test registry insecure', async () => {
    const auth = Buffer.from('puller:pa:ss').toString('base64')
    assert.deepEqual(configCredentials({auths: {'https://reg.example.com': {auth}}}, 'reg.example.com'), {username: 'puller', password: 'pa:ss'})
    assert.equal(configCredentials({auths: {}}, 'reg.example.com'), undefined)
    const dir = await scratch('berth-pin-')
    const file = path.join(dir, 'config.json')
    await writeFile(file, JSON.stringify({auths: {[registry]: {auth}}}), {mode: 0o600})
    const withConfig = nodeRegistryAccess(dockerRegistryConfig(dockerSocket()), file)
    assert.deepEqual(await withConfig(registry), {plainHttp: true, credentials: {username: 'puller', password: 'pa:ss'}})
  })
})

describe('PUT /v1/services/NAME pins the spec', () => {
  it('stores the digest the tag points at, keeps the image as written, and dockerd runs exactly that reference', async () => {
    const pushed = await pushTestImage(registry, repo, '1', `${repo} one`)
    images.push(pushed.id)
    const api = await testApi({deps: {pin: (spec) => pinSpec(spec, registryLookup(access), registry)}})
    const reply = await sendJsonBody(api, 'PUT', '/v1/services/web', {image: `${repo}:1`})
    assert.equal(reply.status, 200)
    assert.deepEqual((reply.json.spec as {image: string; imageDigest: string}), {image: `${repo}:1`, imageDigest: pushed.digest, stopTimeout: 10, restart: 'always', roles: ['main', 'worker']})
    const stored = (await api.store.services()).get('web')!
    assert.equal(stored.imageDigest, pushed.digest)

    const ref = runImage(stored, registry)
    assert.equal(ref, `${registry}/${repo}@${pushed.digest}`)
    const env = {DOCKER_HOST: `unix://${dockerSocket()}`}
    await execa('docker', ['pull', ref], {env})
    const created = await execa('docker', ['create', ref, '/hello'], {env})
    const id = created.stdout.trim()
    try {
      const image = (await execa('docker', ['inspect', '--format', '{{.Config.Image}}', id], {env})).stdout
      assert.equal(image, ref, 'the container runs the pinned reference')
    } finally {
      await execa('docker', ['rm', '-f', id], {env, reject: false})
      await execa('docker', ['image', 'rm', ref], {env, reject: false})
    }
  })

  it('looks a tag up with the service\'s pull secret: pinned with it, refused without it', async () => {
    const pushed = await pushTestImage(registry, repo, 'private', `${repo} private`)
    images.push(pushed.id)
    const front = await bearerFront(registry, 'puller', 'pull-pass-1')
    const dir = await scratch('berth-pin-key-')
    await createMasterKey(path.join(dir, 'master.key'))
    const provider = await LocalKeyProvider.fromFile(path.join(dir, 'master.key'))
    const api = await testApi({deps: {key: async () => provider, pin: (spec, credentials) => pinSpec(spec, registryLookup(access), registry, credentials)}})
    const spec = {image: `${front.host}/${repo}:private`, pullSecret: 'REG_AUTH'}
    const refused = await sendJsonBody(api, 'PUT', '/v1/services/private', spec)
    assert.equal(refused.status, 422, 'the secret is not set yet: no credentials')
    assert.match(refused.json.error?.message ?? '', /refused a token \(HTTP 401\)/)
    await api.store.putSealedSecret('REG_AUTH', await sealSecret('REG_AUTH', JSON.stringify({username: 'puller', password: 'pull-pass-1'}), provider))
    const pinned = await sendJsonBody(api, 'PUT', '/v1/services/private', spec)
    assert.equal(pinned.status, 200, pinned.text)
    assert.equal((pinned.json.spec as {imageDigest: string}).imageDigest, pushed.digest)
    assert.equal(front.tokenRequests.length, 2, 'one token asked for without, one with the credentials')
    assert.doesNotMatch(api.logs.join('\n'), /pull-pass-1/)
  })

  it('refuses a tag that does not resolve with 422 and the registry\'s reason, and stores nothing', async () => {
    const api = await testApi({deps: {pin: (spec) => pinSpec(spec, registryLookup(access), registry)}})
    const reply = await sendJsonBody(api, 'PUT', '/v1/services/web', {image: `${repo}:missing`})
    assert.equal(reply.status, 422)
    assert.equal(reply.json.error?.code, 'image_unresolved')
    assert.equal(reply.json.error?.message, `service web: registry ${registry}: ${repo}:missing: no such tag; push the image first (berth images build --push, or docker push); nothing was changed`)
    assert.equal((await api.store.services()).size, 0)
  })
})
