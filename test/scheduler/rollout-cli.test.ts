/**
 * `berth service update`, `history` and `rollback` as a user runs them, against a private
 * etcd (the commands use the cluster's `/berth` prefix) with a real scheduler leader in
 * this process and simulated agents: every replica whose assignment names a new revision
 * reports healthy from a new container, unless its image is `broken`, which never passes.
 * A new image goes through a real admin API over the same etcd, pinning against the real
 * test registry (Docker Hub names, like `example/web`, are stored as written).
 */
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'
import type {Etcd3} from 'etcd3'

import {EtcdStore} from '../../src/agent/store/store-etcd.js'
import {machineKeys, type ReplicaHealth, schedulerKeys, type AssignmentRecord} from '../../src/layout/records.js'
import {SchedulerCandidate} from '../../src/scheduler/leader.js'
import {parseRevisions} from '../../src/scheduler/revisions.js'
import {validateServiceSpec} from '../../src/spec/service.js'
import {randomBytes} from 'node:crypto'
import {writeFile} from 'node:fs/promises'
import path from 'node:path'

import {dockerRegistryConfig, nodeRegistryAccess} from '../../src/agent/node/registry-access.js'
import {pinSpec, registryLookup} from '../../src/images/pin.js'
import {berth, scratch} from '../support/cli.js'
import {pushTestImage, removeImages} from '../support/registry-images.js'
import {dockerSocket, registryAddress} from '../support/services.js'
import {privateEtcd} from '../agent/store-support.js'
import {startTestApi, type TestApi} from '../agent/api-server.js'
import {testDemandOf, testPlace} from './test-placement.js'

const prefix = '/berth'
// Started at the top: privateEtcd's own after() then stops it when the file ends, not when a hook does.
const etcd = await privateEtcd()
const dir = await scratch('berth-rollout-cli-')
const raw: Etcd3 = new (await import('etcd3')).Etcd3({hosts: [etcd.url]})
const store = new EtcdStore({endpoints: [etcd.url], prefix})
let leader: SchedulerCandidate
let stopAgents: () => Promise<void>
let api: TestApi
let apiArgs: string[] = []
const images: string[] = []

/** Agents on main-1..3 that report each assigned replica healthy from container `<replica>-<hash>`, or unhealthy when its image is broken. */
async function simulateAgents(): Promise<() => Promise<void>> {
  const machines = ['main-1', 'main-2', 'main-3']
  const lease = raw.lease(30)
  await lease.grant()
  for (const m of machines) await raw.put(machineKeys(m, prefix).facts).value(JSON.stringify({role: 'main', labels: {}, capacity: {memoryMb: 1024, cpus: 2}}))
  const report = async (): Promise<void> => {
    const [assigned, revisions] = await Promise.all([raw.getAll().prefix(schedulerKeys(prefix).assignments).strings(), raw.getAll().prefix(`${prefix}/revisions/web/`).strings()])
    const images = new Map(parseRevisions(revisions, 'web', prefix).map((r) => [r.hash, (r.spec as {image: string}).image]))
    const health = new Map<string, Record<string, ReplicaHealth>>(machines.map((m) => [m, {}]))
    for (const [key, text] of Object.entries(assigned)) {
      const replica = key.slice(key.lastIndexOf('/') + 1)
      const a = JSON.parse(text) as AssignmentRecord
      const broken = images.get(a.specHash)?.endsWith(':broken')
      health.get(a.machine)![replica] = {status: broken ? 'unhealthy' : 'healthy', since: new Date().toISOString(), failures: broken ? 3 : 0, check: 'http', container: `${replica}-${a.specHash}`.slice(0, 24), ...(broken ? {lastError: 'GET / on port 80 answered 500, expected 2xx'} : {})}
    }
    for (const m of machines) await lease.put(machineKeys(m, prefix).agent).value(JSON.stringify({version: 't', converged: true, lastPass: new Date().toISOString(), services: {}, errors: {}, health: health.get(m)}))
  }
  await report()
  const watcher = await raw.watch().prefix(schedulerKeys(prefix).assignments).create()
  watcher.on('put', () => void report())
  return async () => {
    await watcher.cancel()
    await lease.revoke()
  }
}

const cli = (args: string[]) => berth([...args, '--etcd', etcd.url])
/** `service update`, which stores a new image through the admin API. */
const update = (args: string[]) => cli(['service', 'update', ...args, ...apiArgs])

describe('service update, history and rollback', {timeout: 180_000}, () => {
  before(async () => {
    stopAgents = await simulateAgents()
    await store.putService('web', await validateServiceSpec({image: 'example/web:1', replicas: 2, health: {http: {port: 80}}, update: {healthyDeadline: 3}}))
    leader = new SchedulerCandidate({client: raw, prefix, machine: 'main-1', services: () => store.services(), place: testPlace, demandOf: testDemandOf, lostAfterMs: 60_000, ttlSeconds: 2})
    leader.start()
    const lookup = registryLookup(nodeRegistryAccess(dockerRegistryConfig(dockerSocket())))
    api = await startTestApi(dir, {store, deps: {pin: (spec, credentials) => pinSpec(spec, lookup, undefined, credentials)}})
    const caFile = path.join(dir, 'ca.crt')
    await writeFile(caFile, api.ca)
    apiArgs = ['--url', api.url, '--token-file', path.join(dir, 'api-token'), '--ca', caFile]
  })
  after(async () => {
    await api?.close()
    await removeImages(images)
    await leader?.stop()
    await stopAgents?.()
    await store.close()
    raw.close()
  })

  it('update rolls the new image over both replicas and exits 0 with the outcome; history lists both revisions, the current one marked', async () => {
    const result = await update(['web', '--image', 'example/web:2'])
    assert.equal(result.exitCode, 0, result.stderr)
    assert.match(result.stdout, /web: revision 2 \([0-9a-f]{16}, example\/web:2\): completed: completed \(revision 1 → 2\), 2 batches done: all 2 replicas run [0-9a-f]{16} in 2 batches/)
    const history = await cli(['service', 'history', 'web'])
    assert.equal(history.exitCode, 0, history.stderr)
    const lines = history.stdout.split('\n')
    assert.match(lines[0]!, /^REV\s+AT\s+BY\s+IMAGE\s+HASH\s+NOTE$/)
    // A new image is stored through the admin API (which pins it), so the API is its origin.
    assert.match(lines[1]!, /^2\*\s+\S+\s+api\s+example\/web:2\s+[0-9a-f]{16}\s+-$/)
    assert.match(lines[2]!, /^1\s+\S+\s+unknown\s+example\/web:1\s+[0-9a-f]{16}\s+-$/)
    assert.match(history.stdout, /rollout: completed \(revision 1 → 2\), 2 batches done/)
    const json = JSON.parse((await cli(['service', 'history', 'web', '--json'])).stdout) as {revisions: Array<{revision: number; current: boolean}>}
    assert.deepEqual(json.revisions.map((r) => [r.revision, r.current]), [[2, true], [1, false]])
  })

  it('an update whose health check cannot pass rolls back by itself: exit 1 and the reason', async () => {
    const result = await update(['web', '--image', 'example/web:broken'])
    assert.equal(result.exitCode, 1, result.stdout)
    assert.match(result.stderr, /web: rollout rolled-back: rolled-back \(revision 3 → 2\), 1 batches done: batch 1 \(web\.1\) was not healthy within 3 s: web\.1 unhealthy \(GET \/ on port 80 answered 500, expected 2xx\); rolled back to revision 2/)
    const {revisions} = JSON.parse((await cli(['service', 'history', 'web', '--json'])).stdout) as {revisions: Array<{revision: number; origin: string; image: string; note?: string; current: boolean}>}
    assert.deepEqual(revisions.slice(0, 2).map((r) => [r.revision, r.origin, r.image, r.note, r.current]), [[4, 'scheduler', 'example/web:2', 'rollback to 2', true], [3, 'api', 'example/web:broken', undefined, false]])

    // With --json the outcome is the document, and the exit code still says it failed.
    const json = await update(['web', '--image', 'example/web:broken', '--json'])
    assert.equal(json.exitCode, 1, json.stderr)
    const out = JSON.parse(json.stdout) as {revision: number; outcome: {state: string}}
    assert.deepEqual([out.revision, out.outcome.state], [5, 'rolled-back'])
  })

  it('rollback --to puts an older revision back and rolls it; a revision not kept, and an update that changes nothing, are bad usage', async () => {
    const result = await cli(['service', 'rollback', 'web', '--to', '1'])
    assert.equal(result.exitCode, 0, result.stderr)
    assert.match(result.stdout, /web: revision 7 \([0-9a-f]{16}, example\/web:1\): completed/)
    const audit = await store.auditEntries()
    assert.ok(audit.some((e) => e.action === 'service.rollback' && e.target === 'web' && e.from.via === 'cli'), JSON.stringify(audit))

    const missing = await cli(['service', 'rollback', 'web', '--to', '9'])
    assert.equal(missing.exitCode, 2)
    assert.match(missing.stderr, /--to 9: web keeps no revision 9 \(use one it keeps: 1, 2, 3, 4, 5, 6, 7; berth service history web lists them\)/)
    const nothing = await update(['web'])
    assert.equal(nothing.exitCode, 2)
    assert.match(nothing.stderr, /service update: changes nothing \(give --image REF or --env KEY=VALUE\)/)
    const badEnv = await update(['web', '--env', 'NOEQUALS'])
    assert.equal(badEnv.exitCode, 2)
    assert.match(badEnv.stderr, /--env NOEQUALS: is not KEY=VALUE/)
  })

  it('--detach returns at once with the stored revision; --env sets a variable', async () => {
    const result = await update(['web', '--env', 'LOG_LEVEL=debug', '--detach', '--json'])
    assert.equal(result.exitCode, 0, result.stderr)
    const out = JSON.parse(result.stdout) as {revision: number; outcome?: unknown}
    assert.equal(out.revision, 8)
    assert.equal(out.outcome, undefined)
    assert.deepEqual((await store.services()).get('web')?.env, {LOG_LEVEL: 'debug'})
  })

  it('a new image is pinned to the digest its tag names in the registry; a tag that does not resolve changes nothing', async () => {
    const repo = `${registryAddress()}/berth-roll-${randomBytes(4).toString('hex')}`
    const pushed = await pushTestImage(registryAddress(), repo.slice(registryAddress().length + 1), '3', `roll ${repo}`)
    images.push(pushed.id)
    const result = await update(['web', '--image', `${repo}:3`, '--json'])
    assert.equal(result.exitCode, 0, result.stderr)
    const stored = (await store.services()).get('web')
    assert.deepEqual([stored?.image, stored?.imageDigest], [`${repo}:3`, pushed.digest])
    const {revision} = JSON.parse(result.stdout) as {revision: number}

    const missing = await update(['web', '--image', `${repo}:nope`])
    assert.equal(missing.exitCode, 1, missing.stdout)
    assert.match(missing.stderr, /nothing was changed/)
    assert.equal((await store.services()).get('web')?.imageDigest, pushed.digest)
    assert.equal((await store.revisions('web')).at(-1)?.seq, revision)
  })
})
