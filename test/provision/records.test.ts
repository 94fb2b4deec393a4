/**
 * The installer's and the agent's etcd records against the real etcd of scripts/services.sh,
 * each run under a key prefix of its own; and the agent's options and unit as the installer
 * writes them, checked by the agent's own options validator.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {after, before, describe, test} from 'node:test'

import {agentOptionsFrom} from '../../src/agent/options.js'
import {AgentReporter} from '../../src/agent/loop/report.js'
import {agentOptionsFor, agentUnit, type NodeFile} from '../../src/provision/agent-unit.js'
import {openEtcd} from '../../src/etcd/open.js'
import {RecordStore} from '../../src/etcd/records.js'
import {readAllMachines, readMachine, seedServices} from '../../src/provision/records-etcd.js'
import {statusLines} from '../../src/provision/status.js'
import type {ReplicaHealth, RevisionRecord} from '../../src/layout/records.js'
import {shortSpecHash} from '../../src/hash.js'
import type {ServiceSpec} from '../../src/spec/service.js'
import {RetryableError, UsageError} from '../../src/errors.js'
import {pinSpec, registryLookup} from '../../src/images/pin.js'
import {pushTestImage, removeImages} from '../support/registry-images.js'
import {etcdUrl, registryAddress} from '../support/services.js'

const prefix = `/berth-test-${randomBytes(4).toString('hex')}`
let client: Awaited<ReturnType<typeof openEtcd>>
let store: RecordStore

describe('provision records in etcd', () => {
  before(async () => {
    client = await openEtcd([etcdUrl()])
    store = await RecordStore.connect([etcdUrl()])
  })
  after(async () => {
    await client.delete().prefix(`${prefix}/`).exec()
    client.close()
    store.close()
  })

  test('initial services are created where absent and never overwrite a newer value', async () => {
    assert.deepEqual(await seedServices(store, {web: {image: 'examples/web:1'}, api: {image: 'api:1'}}, prefix), ['web', 'api'])
    const seeded = await (await store.auditLog(prefix)).auditEntries()
    assert.deepEqual(seeded.map((e) => [e.action, e.target, e.before, e.after?.length, e.detail]), [['service.put', 'web', null, 64, {by: 'installer'}], ['service.put', 'api', null, 64, {by: 'installer'}]])
    // With its first revision, which the scheduler's assignments name: the first change then rolls instead of restarting every copy.
    const web = JSON.parse((await client.get(`${prefix}/services/web`).string())!) as ServiceSpec
    const revisions = Object.values(await client.getAll().prefix(`${prefix}/revisions/web/`).strings()).map((t) => JSON.parse(t) as RevisionRecord)
    assert.deepEqual(revisions.map((r) => [r.seq, r.hash, r.note, (r.spec as ServiceSpec).image]), [[1, shortSpecHash(web), 'installed', 'examples/web:1']])
    await client.put(`${prefix}/services/web`).value(JSON.stringify({image: 'examples/web:2', stopTimeout: 10, restart: 'always', roles: ['main']}))
    assert.deepEqual(await seedServices(store, {web: {image: 'examples/web:1'}, api: {image: 'api:1'}}, prefix), [])
    assert.equal(JSON.parse((await client.get(`${prefix}/services/web`).string())!).image, 'examples/web:2')
    assert.equal((await (await store.auditLog(prefix)).auditEntries()).length, 2, 'a seed that creates nothing records nothing')
    await assert.rejects(seedServices(store, {bad: {image: 'x', colour: 'red'}}, prefix), /services\/bad/)
  })

  test('initial services are pinned to their image\'s digest as they are created', async () => {
    const registry = registryAddress()
    const repo = `berth-seed-${randomBytes(4).toString('hex')}`
    const pushed = await pushTestImage(registry, repo, '1', `${repo} seed`)
    after(() => removeImages([pushed.id]))
    const lookup = registryLookup(() => ({plainHttp: true}))
    assert.deepEqual(await seedServices(store, {pinned: {image: `${repo}:1`}}, prefix, (_name, spec) => pinSpec(spec, lookup, registry)), ['pinned'])
    const stored = JSON.parse((await client.get(`${prefix}/services/pinned`).string())!) as {image: string; imageDigest: string}
    assert.deepEqual([stored.image, stored.imageDigest], [`${repo}:1`, pushed.digest])
  })

  test('a damaged machine record reads as absent for status, and as an error where berth wrote it itself', async () => {
    await client.put(`${prefix}/machines/main-9/installed`).value('{not json')
    await client.put(`${prefix}/machines/main-8/installed`).value(JSON.stringify({version: '1', image: 'i:1', result: 'ok', at: 'now'}))
    assert.deepEqual(await readMachine(store, 'main-9', prefix), {installed: undefined, agent: undefined})
    const all = await readAllMachines(store, prefix)
    assert.equal(all.get('main-8')?.installed?.version, '1')
    assert.ok(!all.has('main-9'))
    await assert.rejects(store.get(`${prefix}/machines/main-9/installed`), /main-9\/installed does not hold a JSON record/)
  })

  test('an unreachable etcd is a retryable error that names the endpoint', async () => {
    const dead = await RecordStore.connect(['http://127.0.0.1:9'])
    try {
      await assert.rejects(dead.get(`${prefix}/x`), (error: unknown) => error instanceof RetryableError && /^etcd at http:\/\/127\.0\.0\.1:9: cannot read /.test(error.message))
    } finally {
      dead.close()
    }
  })

  test('the agent record lives under a lease: written after a pass, gone when the agent stops', async () => {
    const reporter = new AgentReporter({endpoints: [etcdUrl()], prefix, machine: 'main-1', version: '0.1.0-test', unitPrefix: 'berth-', ttlSeconds: 5,
      ops: {unitStates: async (units) => new Map(units.map((u) => [u, {activeState: 'active', needsReload: false}]))}})
    await reporter.report({startedAt: new Date().toISOString(), durationMs: 1, actions: [], outcomes: {web: {ok: true, actions: []}, api: {ok: false, error: 'image api:1 cannot be pulled', actions: []}}, errors: [], drift: [], converged: false})
    const {agent} = await readMachine(store, 'main-1', prefix)
    assert.deepEqual({...agent, lastPass: undefined}, {version: '0.1.0-test', converged: false, lastPass: undefined, services: {web: 'active', api: 'active'}, errors: {api: 'image api:1 cannot be pulled'}})
    const lease = (await client.get(`${prefix}/machines/main-1/agent`).exec()).kvs[0]?.lease
    assert.ok(lease && lease !== '0', 'the record is bound to a lease')
    await reporter.close()
    assert.equal((await readMachine(store, 'main-1', prefix)).agent, undefined)
  })

  test('the agent record carries each copy\'s health, written again between passes when it changes, and status shows it with the reason', async () => {
    let health: Record<string, ReplicaHealth> = {web: {status: 'starting', since: '2026-12-01T00:00:00.000Z', failures: 0, check: 'http', container: 'abc'}}
    const reporter = new AgentReporter({endpoints: [etcdUrl()], prefix, machine: 'main-2', version: '0.1.0-test', unitPrefix: 'berth-', ttlSeconds: 5, health: () => health,
      ops: {unitStates: async (units) => new Map(units.map((u) => [u, {activeState: 'active', needsReload: false}]))}})
    try {
      await reporter.refresh() // before any pass: nothing to write
      assert.equal((await readMachine(store, 'main-2', prefix)).agent, undefined)
      await reporter.report({startedAt: new Date().toISOString(), durationMs: 1, actions: [], outcomes: {web: {ok: true, actions: []}, api: {ok: true, actions: []}}, errors: [], drift: [], converged: true})
      assert.equal((await readMachine(store, 'main-2', prefix)).agent?.health?.web?.status, 'starting')
      health = {
        api: {status: 'unhealthy', since: '2026-12-01T00:00:05.000Z', failures: 3, lastError: 'GET /healthz on port 8080 answered 500, expected 2xx', check: 'http'},
        web: {status: 'healthy', since: '2026-12-01T00:00:01.000Z', failures: 0, check: 'http'},
      }
      await reporter.refresh()
      const {agent} = await readMachine(store, 'main-2', prefix)
      assert.deepEqual(agent?.health, health)
      const lines = statusLines({cluster: 'c', etcd: {healthy: 1, members: 1}, machines: [{name: 'main-2', ip: '10.0.0.12', role: 'main', etcd: 'voter, healthy', agent: {state: 'converged'}, services: agent!.services, health: agent!.health!, assigned: []}]})
      assert.deepEqual(lines.slice(2), [
        '      services: web active healthy, api active unhealthy',
        '      api: unhealthy (3 failures): GET /healthz on port 8080 answered 500, expected 2xx',
      ])
    } finally {
      await reporter.close()
    }
  })

  test('the agent options the installer writes pass the agent\'s own validator, and the unit carries no stray value', async () => {
    const node: NodeFile = {cluster: 'c', machine: 'main-1', ip: '10.0.0.11', role: 'main', unitPrefix: 'air-', etcdEndpoints: ['http://10.0.0.11:2379'], registry: '10.0.0.2:5000', installerImage: '10.0.0.2:5000/berth/installer:latest'}
    const options = await agentOptionsFrom(agentOptionsFor(node, {cluster: 'c', unitPrefix: 'air-', installerImage: node.installerImage, registry: node.registry, etcdPrefix: '/berth', services: {}}), '/etc/berth/agent.json')
    assert.equal(options.listen, '10.0.0.11:8443')
    assert.deepEqual(options.store, {kind: 'etcd', endpoints: ['http://10.0.0.11:2379'], prefix: '/berth'})
    assert.deepEqual([options.machine, options.role, options.unitPrefix, options.tokenFile], ['main-1', 'main', 'air-', '/etc/berth/secrets/api-token'])
    const unit = agentUnit({prefix: 'air-', image: node.installerImage, version: '0.1.0-abc', machine: 'main-1'})
    assert.match(unit, /^ExecStart=\/usr\/bin\/docker run --rm --init --name air-agent --pid host --network host .* -e BERTH_VERSION=0\.1\.0-abc 10\.0\.0\.2:5000\/berth\/installer:latest agent run --options \/etc\/berth\/agent\.json$/m)
    assert.match(unit, /^ExecStop=\/usr\/bin\/docker stop -t 30 air-agent$/m)
    assert.match(unit, /^Restart=always$/m)
    assert.throws(() => agentUnit({prefix: 'air-', image: 'x\nExecStartPre=/bin/sh', version: '1', machine: 'm'}), /cannot carry/)
    assert.throws(() => agentUnit({prefix: 'air-', image: 'x', version: '1%n', machine: 'm'}), /cannot carry/)
    assert.throws(() => agentUnit({prefix: 'air-', image: 'x y', version: '1', machine: 'm'}), (e: unknown) => e instanceof UsageError && e.exitCode === 2 && /^agent unit: image: "x y" has characters a unit cannot carry \(installer\.image in cluster\.yaml or --image: /.test(e.message))
  })
})
