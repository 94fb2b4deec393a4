/**
 * The leader's auto-upgrade against the real etcd and the real test registry: two main
 * agents' candidates and upgraders over one EtcdStore prefix; a push under the followed tag
 * is picked up by polling, and by the registry's notification through the admin API route
 * (its own token; a wrong one is refused and writes nothing), which wakes the leader through
 * etcd. Only the leader stores the new digest, through the store's putService, with an
 * audit entry naming both digests.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {after, afterEach, describe, it} from 'node:test'
import type {Etcd3} from 'etcd3'

import {EVENTS_TYPE, etcdPushNotifier} from '../../src/agent/api/registry-events.js'
import {EtcdStore} from '../../src/agent/store/store-etcd.js'
import {shortSpecHash} from '../../src/hash.js'
import {registryLookup} from '../../src/images/pin.js'
import {rolloutKeys, schedulerKeys} from '../../src/layout/records.js'
import {AutoUpgrader, dueServices, followsPush, type CheckOutcome} from '../../src/scheduler/auto-upgrade.js'
import {SchedulerCandidate} from '../../src/scheduler/leader.js'
import {validateServiceSpec, type ServiceSpec} from '../../src/spec/service.js'
import {send, testApi} from '../agent/api-support.js'
import {testService, until} from '../agent/store-support.js'
import {pushTestImage, removeImages} from '../support/registry-images.js'
import {registryAddress} from '../support/services.js'
import {testDemandOf, testPlace} from './test-placement.js'

const endpoints = [testService('BERTH_TEST_ETCD')]
const registry = registryAddress()
const lookup = registryLookup(() => ({plainHttp: true}))
const clients: Etcd3[] = []
const stops: Array<() => Promise<void>> = []
const images: string[] = []

afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop().catch(() => undefined)
})
after(async () => {
  for (const c of clients) c.close()
  await removeImages(images)
})

async function client(): Promise<Etcd3> {
  const {Etcd3} = await import('etcd3')
  const c = new Etcd3({hosts: endpoints})
  clients.push(c)
  return c
}

/** A main agent's scheduler candidate and auto-upgrader over one prefix, stopped after the test. */
async function mainAgent(prefix: string, machine: string, store: EtcdStore): Promise<{candidate: SchedulerCandidate; upgrader: AutoUpgrader; outcomes: CheckOutcome[]}> {
  const raw = await client()
  const candidate = new SchedulerCandidate({client: raw, prefix, machine, services: () => store.services(), place: testPlace, demandOf: testDemandOf, lostAfterMs: 500, ttlSeconds: 2})
  const upgrader = new AutoUpgrader({client: raw, prefix, machine, isLeader: () => candidate.leading, store, lookup, registry, tickMs: 100})
  const outcomes: CheckOutcome[] = []
  upgrader.onCheck = (o) => outcomes.push(o)
  candidate.start()
  await upgrader.start()
  stops.push(async () => {
    await upgrader.stop()
    await candidate.stop()
  })
  return {candidate, upgrader, outcomes}
}

async function setUp(pollSeconds: number) {
  const prefix = `/berth-autoup-${randomBytes(4).toString('hex')}`
  const repo = `berth-autoup-${randomBytes(4).toString('hex')}`
  const raw = await client()
  const store = new EtcdStore({endpoints, prefix})
  after(async () => {
    await raw.delete().prefix(`${prefix}/`).exec()
    await store.close()
  })
  const first = await pushTestImage(registry, repo, 'stable', `${repo} first`)
  images.push(first.id)
  const spec = await validateServiceSpec({image: `${repo}:stable`, autoUpgrade: {pollSeconds}, replicas: 1})
  await store.putService('web', {...spec, imageDigest: first.digest})
  return {prefix, repo, raw, store, first}
}

const digestOf = async (store: EtcdStore): Promise<string | undefined> => (await store.services()).get('web')?.imageDigest

describe('auto-upgrade: pure parts', () => {
  it('a push matches the tag a service follows, and services are due when their poll time passed', async () => {
    const spec = await validateServiceSpec({image: 'team/web:1', autoUpgrade: true})
    assert.equal(followsPush(spec, '10.0.0.2:5000', {repository: 'team/web', tag: '1'}), true)
    assert.equal(followsPush(spec, '10.0.0.2:5000', {repository: 'team/web', tag: '2'}), false)
    assert.equal(followsPush(spec, '10.0.0.2:5000', {repository: 'web', tag: '1'}), false)
    const plain = await validateServiceSpec({image: 'team/api:1'})
    const services = new Map<string, ServiceSpec>([['web', spec], ['api', plain], ['db', await validateServiceSpec({image: 'db:1', autoUpgrade: {pollSeconds: 30}})]])
    assert.deepEqual(dueServices(services, new Map([['db', 2000]]), 1000), ['web'])
    assert.deepEqual(dueServices(services, new Map([['db', 2000], ['web', 5000]]), 2000), ['db'])
  })
})

describe('auto-upgrade against the real etcd and registry', {timeout: 120_000}, () => {
  it('the leader stores the new digest after a push under the tag, found by polling; the other main agent does nothing', async () => {
    const {prefix, repo, store, first} = await setUp(5)
    const a = await mainAgent(prefix, 'main-1', store)
    await until('main-1 leads', () => a.candidate.leading)
    const b = await mainAgent(prefix, 'main-2', store)
    await until('the leader checked web once', () => a.outcomes.some((o) => o.service === 'web' && o.result === 'current'))

    const second = await pushTestImage(registry, repo, 'stable', `${repo} second`)
    images.push(second.id)
    await until('web is stored with the new digest', async () => (await digestOf(store)) === second.digest)
    const spec = (await store.services()).get('web')!
    assert.equal(spec.image, `${repo}:stable`, 'the image stays as written')
    const entries = (await store.auditEntries({service: 'web'})).filter((e) => e.action === 'service.auto-upgrade')
    assert.equal(entries.length, 1)
    assert.deepEqual(entries[0]!.detail, {image: `${repo}:stable`, from: first.digest, to: second.digest})
    assert.deepEqual(entries[0]!.from, {via: 'agent', claimed: {host: 'main-1'}})
    assert.equal(b.candidate.leading, false)
    assert.equal(b.outcomes.length, 0, 'the agent that does not lead looked nothing up')
  })

  it('a registry notification through the admin API wakes the leader; one with a wrong token is refused and changes nothing', async () => {
    // Polling once a day: only the notification can bring the upgrade in time.
    const {prefix, repo, raw, store} = await setUp(86400)
    const leader = await mainAgent(prefix, 'main-1', store)
    await until('the leader checked web once', () => leader.outcomes.some((o) => o.service === 'web' && o.result === 'current'))
    const key = schedulerKeys(prefix).registryPush
    const notify = etcdPushNotifier(async (k, v) => void (await raw.put(k).value(v).exec()), key, 'main-2')
    const token = randomBytes(16).toString('hex')
    const api = await testApi({deps: {registryEvents: {token, notify}}})

    const second = await pushTestImage(registry, repo, 'stable', `${repo} pushed`)
    images.push(second.id)
    const envelope = JSON.stringify({events: [
      {id: '1', action: 'pull', target: {repository: repo, tag: 'stable', digest: second.digest}},
      {id: '2', action: 'push', target: {mediaType: 'application/vnd.docker.distribution.manifest.v2+json', repository: repo, tag: 'stable', digest: second.digest}, request: {host: registry}},
    ]})
    const refused = await send(api, 'POST', '/v1/registry-events', {auth: false, body: envelope, headers: {'content-type': EVENTS_TYPE, authorization: `Bearer ${api.token}`}})
    assert.equal(refused.status, 401, 'the admin token is not the registry\'s')
    const noToken = await send(api, 'POST', '/v1/registry-events', {auth: false, body: envelope, headers: {'content-type': EVENTS_TYPE}})
    assert.equal(noToken.status, 401)
    assert.equal(await raw.get(key).string(), null, 'a refused notification wrote nothing')

    const accepted = await send(api, 'POST', '/v1/registry-events', {auth: false, body: envelope, headers: {'content-type': EVENTS_TYPE, authorization: `Bearer ${token}`}})
    assert.equal(accepted.status, 200)
    assert.deepEqual(accepted.json, {accepted: 1}, 'the pull is left out')
    await until('web is stored with the pushed digest', async () => (await digestOf(store)) === second.digest)
    assert.ok(leader.outcomes.some((o) => o.result === 'upgraded' && o.to === second.digest))
  })

  it('a digest whose rollout was rolled back is held: not stored again at every poll', async () => {
    const {prefix, repo, raw, store, first} = await setUp(5)
    const spec = (await store.services()).get('web')!
    const second = await pushTestImage(registry, repo, 'stable', `${repo} second, rolled back`)
    images.push(second.id)
    const failed = shortSpecHash({...spec, imageDigest: second.digest})
    await raw.put(rolloutKeys('web', prefix).rollout).value(JSON.stringify({service: 'web', from: failed, to: shortSpecHash(spec), state: 'rolled-back', batchesDone: 1, startedAt: new Date().toISOString(), updatedAt: new Date().toISOString(), message: 'batch 1 (web.1) was not healthy within 5 s'}))
    const leader = await mainAgent(prefix, 'main-1', store)
    const held = await until('the leader held the digest', () => leader.outcomes.find((o) => o.result === 'held'))
    assert.match((held as {reason: string}).reason, new RegExp(`the rollout to ${second.digest} was rolled back: batch 1 \\(web\\.1\\) was not healthy`))
    assert.equal(await digestOf(store), first.digest)
  })

  it('a lookup that fails leaves the stored spec as it was', async () => {
    const {prefix, store, first} = await setUp(5)
    const spec = (await store.services()).get('web')!
    // The tag is deleted from the registry's view: a tag nobody pushed.
    await store.putService('web', {...spec, image: `${spec.image.split(':')[0]}:never-pushed`})
    const leader = await mainAgent(prefix, 'main-1', store)
    const failed = await until('the leader tried', () => leader.outcomes.find((o) => o.result === 'failed'))
    assert.match((failed as {error: string}).error, /no such tag/)
    assert.equal(await digestOf(store), first.digest)
  })
})
