/**
 * Rolling updates against the real etcd: the leader moves a changed replicated service to
 * its new revision one batch at a time, each gated on the health its agents report (the
 * agents are simulated by writing their leased records with health, as the leader tests
 * do); a leader that dies mid-rollout is continued by its successor; a batch that is not
 * healthy by its deadline is rolled back, or pauses the rollout. A global service rolls the
 * same way across its machines.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {after, afterEach, describe, it} from 'node:test'
import type {Etcd3, Lease} from 'etcd3'

import {EtcdStore} from '../../src/agent/store/store-etcd.js'
import {shortSpecHash, specHash} from '../../src/hash.js'
import {type AssignmentRecord, machineKeys, type ReplicaHealth, rolloutKeys, type RolloutRecord, schedulerKeys} from '../../src/layout/records.js'
import {SchedulerCandidate} from '../../src/scheduler/leader.js'
import {place} from '../../src/scheduler/placement.js'
import {validateServiceSpec, type ServiceSpec} from '../../src/spec/service.js'
import {testService, until as untilFor} from '../agent/store-support.js'
import {testDemandOf, testPlace} from './test-placement.js'

const endpoints = [testService('BERTH_TEST_ETCD')]
const clients: Etcd3[] = []
const stores: EtcdStore[] = []
const candidates: SchedulerCandidate[] = []

afterEach(async () => {
  await Promise.all(candidates.splice(0).map((c) => c.stop().catch(() => undefined)))
})
after(async () => {
  for (const s of stores) await s.close()
  for (const c of clients) c.close()
})

async function client(): Promise<Etcd3> {
  const {Etcd3} = await import('etcd3')
  const c = new Etcd3({hosts: endpoints})
  clients.push(c)
  return c
}

/** The shared poll, with this file's longer default: a rollout's batches take seconds each. */
const until = <T>(what: string, test: () => Promise<T | undefined | false> | T | undefined | false, ms = 20_000): Promise<T> => untilFor(what, test, ms)

/** A fresh prefix with machines main-1..3, their facts, and agents whose leased records report each replica's health. */
async function cluster(raw: Etcd3) {
  const prefix = `/berth-roll-${randomBytes(4).toString('hex')}`
  const machines = ['main-1', 'main-2', 'main-3']
  const leases = new Map<string, Lease>()
  after(async () => {
    for (const lease of leases.values()) await lease.revoke().catch(() => undefined)
    await raw.delete().prefix(`${prefix}/`).exec()
  })
  const health = new Map<string, Record<string, ReplicaHealth>>(machines.map((m) => [m, {}]))
  const write = async (m: string): Promise<void> => {
    await leases.get(m)!.put(machineKeys(m, prefix).agent).value(JSON.stringify({version: 't', converged: true, lastPass: new Date().toISOString(), services: {}, errors: {}, health: health.get(m)}))
  }
  for (const m of machines) {
    await raw.put(machineKeys(m, prefix).facts).value(JSON.stringify({role: 'main', labels: {}, capacity: {memoryMb: 1024, cpus: 2}}))
    const lease = raw.lease(30)
    await lease.grant()
    leases.set(m, lease)
    await write(m)
  }
  const store = new EtcdStore({endpoints, prefix})
  stores.push(store)
  return {
    prefix, store,
    /** The machine's agent writes its record again, as it does after every pass. */
    refresh: (machine: string) => write(machine),
    /** The replica's agent reports it with this status from this container. */
    report: async (machine: string, replica: string, status: ReplicaHealth['status'], container: string, lastError?: string) => {
      health.get(machine)![replica] = {status, since: new Date().toISOString(), failures: status === 'unhealthy' ? 3 : 0, check: 'none', container, ...(lastError ? {lastError} : {})}
      await write(machine)
    },
  }
}

async function web(image: string, update: object = {}): Promise<ServiceSpec> {
  return validateServiceSpec({image, replicas: 3, update: {healthyDeadline: 30, ...update}})
}

async function candidate(prefix: string, machine: string, store: EtcdStore, log: string[] = [], placement = testPlace): Promise<SchedulerCandidate> {
  const c = new SchedulerCandidate({client: await client(), prefix, machine, services: () => store.services(), place: placement, demandOf: testDemandOf, lostAfterMs: 60_000, ttlSeconds: 2, log: (l) => log.push(l)})
  candidates.push(c)
  const count = {begun: 0, ended: [] as number[]}
  passes.set(c, count)
  const pass = c.place.bind(c)
  c.place = async (leadership) => {
    const n = ++count.begun
    const done = await pass(leadership)
    count.ended.push(n)
    return done
  }
  c.start()
  return c
}

/** Per candidate: placement passes begun, and the numbers of those that ended. */
const passes = new WeakMap<SchedulerCandidate, {begun: number; ended: number[]}>()

/**
 * Runs `wake` (a write that wakes the leader) and waits until a placement pass of `c` that
 * began after everything written before this call has ended. The wake's watch event starts
 * a pass, or asks the one in flight for one more, so such a pass comes; what it did not do,
 * the leader will not do for those writes.
 */
async function passAfter(c: SchedulerCandidate, wake: () => Promise<void>): Promise<void> {
  const count = passes.get(c)!
  const mark = count.begun
  await wake()
  await until(`a placement pass of ${c.options.machine} after pass ${mark}`, () => count.ended.some((n) => n > mark))
}

/** Replica → [machine, spec hash] of every assignment. */
async function assigned(raw: Etcd3, prefix: string): Promise<Map<string, AssignmentRecord>> {
  const values = await raw.getAll().prefix(schedulerKeys(prefix).assignments).strings()
  return new Map(Object.entries(values).map(([k, v]) => [k.slice(k.lastIndexOf('/') + 1), JSON.parse(v) as AssignmentRecord]))
}

async function rollout(raw: Etcd3, prefix: string): Promise<RolloutRecord | undefined> {
  return (await raw.get(rolloutKeys('web', prefix).rollout).json() as RolloutRecord | null) ?? undefined
}

/** Every replica healthy from container `<replica>-<tag>`, on its assigned machine. */
async function allHealthy(raw: Etcd3, c: Awaited<ReturnType<typeof cluster>>, tag: string): Promise<void> {
  for (const [replica, a] of await assigned(raw, c.prefix)) await c.report(a.machine, replica, 'healthy', `${replica}-${tag}`)
}

/** Waits for the batch the rollout started last, and returns its replicas. */
async function batch(raw: Etcd3, prefix: string, done: number): Promise<string[]> {
  const r = await until(`batch ${done + 1} started`, async () => {
    const r = await rollout(raw, prefix)
    return r?.batchesDone === done && r.batch && r
  })
  return r.batch!.replicas
}

describe('rolling updates against the real etcd', {timeout: 120_000}, () => {
  it('rolls a changed spec one replica at a time, each gated on its new container being healthy; a new leader continues mid-rollout; it ends completed', async () => {
    const raw = await client()
    const c = await cluster(raw)
    const v1 = await web('example/web:1')
    await c.store.putService('web', v1)
    const a = await candidate(c.prefix, 'main-1', c.store)
    await until('3 replicas on v1', async () => [...(await assigned(raw, c.prefix)).values()].filter((r) => r.specHash === shortSpecHash(v1)).length === 3)
    await allHealthy(raw, c, 'v1')

    const v2 = await web('example/web:2')
    await c.store.putService('web', v2)
    const order: string[] = []
    const first = await batch(raw, c.prefix, 0)
    assert.equal(first.length, 1, 'parallelism 1')
    order.push(...first)
    const now = await assigned(raw, c.prefix)
    assert.deepEqual([...now].filter(([, r]) => r.specHash === shortSpecHash(v2)).map(([k]) => k), first, 'only the first batch names the new revision')
    // The batch's replica restarted but is not healthy yet: the next batch waits for it.
    await c.report(now.get(first[0]!)!.machine, first[0]!, 'starting', `${first[0]}-v2`)
    await passAfter(a, () => c.refresh(now.get(first[0]!)!.machine))
    assert.deepEqual((await rollout(raw, c.prefix))?.batch?.replicas, first, 'moved on before the batch was healthy')
    await c.report(now.get(first[0]!)!.machine, first[0]!, 'healthy', `${first[0]}-v2`)
    const second = await batch(raw, c.prefix, 1)
    order.push(...second)

    // The leader dies (its election lease runs out); a successor continues the same rollout.
    const b = await candidate(c.prefix, 'main-2', c.store)
    await until('main-2 campaigns', async () => Object.values(await raw.getAll().prefix(`${schedulerKeys(c.prefix).namespace}election/`).strings()).includes('main-2'))
    const lease = a.leadership!.key.slice(a.leadership!.key.lastIndexOf('/') + 1)
    await raw.leaseClient.leaseRevoke({ID: lease})
    await until('main-2 leads', () => b.leading)
    await a.stop()
    await until("main-2's first placement pass as the leader", () => passes.get(b)!.ended.length > 0)
    const mid = await rollout(raw, c.prefix)
    assert.equal(mid?.state, 'running')
    assert.deepEqual(mid?.batch?.replicas, second, 'the successor started the rollout over')
    assert.equal([...(await assigned(raw, c.prefix)).values()].filter((r) => r.specHash === shortSpecHash(v2)).length, 2)

    const machineOf = async (replica: string) => (await assigned(raw, c.prefix)).get(replica)!.machine
    await c.report(await machineOf(second[0]!), second[0]!, 'healthy', `${second[0]}-v2`)
    const third = await batch(raw, c.prefix, 2)
    order.push(...third)
    await c.report(await machineOf(third[0]!), third[0]!, 'healthy', `${third[0]}-v2`)
    const end = await until('completed', async () => {
      const r = await rollout(raw, c.prefix)
      return r?.state === 'completed' && r
    })
    assert.deepEqual(order, ['web.1', 'web.2', 'web.3'])
    assert.equal(end.batchesDone, 3)
    assert.equal(end.from, shortSpecHash(v1))
    assert.equal(end.to, shortSpecHash(v2))
    assert.deepEqual([end.fromRevision, end.toRevision], [1, 2])
    assert.ok([...(await assigned(raw, c.prefix)).values()].every((r) => r.specHash === shortSpecHash(v2)))
  })

  it('start-first: an extra replica of the new spec is placed and must be healthy before any old one moves; the extra replica goes when the rollout completes', async () => {
    const raw = await client()
    const c = await cluster(raw)
    const v1 = await web('example/web:1', {order: 'start-first'})
    await c.store.putService('web', v1)
    // The real placement: the test one puts one replica per machine, and the extra replica needs a fourth place.
    const leader = await candidate(c.prefix, 'main-1', c.store, [], place)
    await until('3 replicas on v1', async () => [...(await assigned(raw, c.prefix)).values()].filter((r) => r.specHash === shortSpecHash(v1)).length === 3)
    await allHealthy(raw, c, 'v1')

    const v2 = await web('example/web:2', {order: 'start-first'})
    await c.store.putService('web', v2)
    assert.deepEqual(await batch(raw, c.prefix, 0), ['web.4'])
    const surge = await assigned(raw, c.prefix)
    assert.deepEqual([...surge].map(([k, r]) => [k, r.specHash === shortSpecHash(v2)]).sort(), [['web.1', false], ['web.2', false], ['web.3', false], ['web.4', true]])
    await c.report(surge.get('web.4')!.machine, 'web.4', 'starting', 'web.4-v2')
    await passAfter(leader, () => c.refresh(surge.get('web.4')!.machine))
    assert.deepEqual((await rollout(raw, c.prefix))?.batch?.replicas, ['web.4'], 'an old replica moved before the extra one was healthy')
    await c.report(surge.get('web.4')!.machine, 'web.4', 'healthy', 'web.4-v2')
    for (const [done, replica] of [[1, 'web.1'], [2, 'web.2'], [3, 'web.3']] as const) {
      assert.deepEqual(await batch(raw, c.prefix, done), [replica])
      const now = await assigned(raw, c.prefix)
      assert.equal(now.size, 4, 'the extra replica serves while the old ones roll')
      await c.report(now.get(replica)!.machine, replica, 'healthy', `${replica}-v2`)
    }
    const end = await until('completed', async () => {
      const r = await rollout(raw, c.prefix)
      return r?.state === 'completed' && r
    })
    assert.deepEqual([end.batchesDone, end.surged], [4, true])
    const left = await until('the extra replica removed', async () => {
      const now = await assigned(raw, c.prefix)
      return now.size === 3 && now
    })
    assert.deepEqual([...left.keys()].sort(), ['web.1', 'web.2', 'web.3'])
    assert.ok([...left.values()].every((r) => r.specHash === shortSpecHash(v2)))
  })

  it('a batch not healthy by its deadline rolls the service back to the previous revision, and the rollout says rolled-back and why', async () => {
    const raw = await client()
    const c = await cluster(raw)
    const v1 = await web('example/web:1', {healthyDeadline: 1, minHealthySeconds: 0})
    await c.store.putService('web', v1, {via: 'cli'})
    const log: string[] = []
    await candidate(c.prefix, 'main-1', c.store, log)
    await until('3 replicas on v1', async () => [...(await assigned(raw, c.prefix)).values()].filter((r) => r.specHash === shortSpecHash(v1)).length === 3)
    await allHealthy(raw, c, 'v1')

    const broken = await web('example/web:broken', {healthyDeadline: 1, minHealthySeconds: 0})
    await c.store.putService('web', broken, {via: 'cli'})
    const [failing] = await batch(raw, c.prefix, 0)
    const machine = (await assigned(raw, c.prefix)).get(failing!)!.machine
    await c.report(machine, failing!, 'unhealthy', `${failing}-broken`, 'GET / on port 80 answered 500, expected 2xx')
    const back = await until('rolling back', async () => {
      const r = await rollout(raw, c.prefix)
      return r?.state === 'rolling-back' && r
    })
    assert.match(back.message ?? '', new RegExp(`batch 1 \\(${failing}\\) was not healthy within 1 s: ${failing} unhealthy \\(GET / on port 80 answered 500, expected 2xx\\); rolling back to revision 1`))
    assert.equal((await c.store.services()).get('web')?.image, 'example/web:1', 'the service\'s spec is the previous revision again')
    const revisions = await c.store.revisions('web')
    assert.deepEqual(revisions.map((r) => [r.seq, r.origin, r.hash, r.note]), [[1, 'cli', shortSpecHash(v1), undefined], [2, 'cli', shortSpecHash(broken), undefined], [3, 'scheduler', shortSpecHash(v1), 'rollback to 1']])

    // The failed replica goes back first, and once its old revision is healthy the rollback ends.
    await until(`${failing} back on v1`, async () => (await assigned(raw, c.prefix)).get(failing!)?.specHash === shortSpecHash(v1))
    await c.report(machine, failing!, 'healthy', `${failing}-v1-again`)
    const end = await until('rolled back', async () => {
      const r = await rollout(raw, c.prefix)
      return r?.state === 'rolled-back' && r
    })
    assert.match(end.message ?? '', /; rolled back to revision 1$/)
    assert.ok([...(await assigned(raw, c.prefix)).values()].every((r) => r.specHash === shortSpecHash(v1)))
    assert.ok(log.some((l) => l.includes('rolling back to revision 1')), log.join('\n'))
    const audit = (await c.store.auditEntries()).filter((e) => e.action === 'service.rollback')
    assert.deepEqual(audit.map((e) => [e.target, e.from, e.before, e.after]), [['web', {via: 'agent', claimed: {host: 'main-1'}}, specHash(broken), specHash(v1)]])
    assert.match(audit[0]!.detail?.reason ?? '', /was not healthy within 1 s/)
  })

  it('failureAction pause stops at the failed batch: the other replicas keep their revision, and a newer spec starts a rollout of its own', async () => {
    const raw = await client()
    const c = await cluster(raw)
    const v1 = await web('example/web:1', {healthyDeadline: 1, minHealthySeconds: 0, failureAction: 'pause'})
    await c.store.putService('web', v1)
    await candidate(c.prefix, 'main-1', c.store)
    await until('3 replicas on v1', async () => [...(await assigned(raw, c.prefix)).values()].filter((r) => r.specHash === shortSpecHash(v1)).length === 3)
    await allHealthy(raw, c, 'v1')
    const broken = await web('example/web:broken', {healthyDeadline: 1, minHealthySeconds: 0, failureAction: 'pause'})
    await c.store.putService('web', broken)
    const [failing] = await batch(raw, c.prefix, 0)
    const paused = await until('paused', async () => {
      const r = await rollout(raw, c.prefix)
      return r?.state === 'paused' && r
    })
    assert.match(paused.message ?? '', new RegExp(`^batch 1 \\(${failing}\\) was not healthy within 1 s: ${failing} still runs its old container ${failing}-v1; paused`))
    const now = await assigned(raw, c.prefix)
    assert.deepEqual([...now].map(([k, r]) => [k, r.specHash === shortSpecHash(broken) ? 'broken' : 'v1']).sort(), [['web.1', 'broken'], ['web.2', 'v1'], ['web.3', 'v1']])
    assert.equal((await c.store.services()).get('web')?.image, 'example/web:broken', 'pause changes no spec')

    const fixed = await web('example/web:3', {healthyDeadline: 30, failureAction: 'pause'})
    await c.store.putService('web', fixed)
    const next = await until('a rollout to the fixed spec', async () => {
      const r = await rollout(raw, c.prefix)
      return r?.to === shortSpecHash(fixed) && r.state === 'running' && r
    })
    assert.equal(next.batch?.replicas.length, 1)
  })

  it('a global service rolls one machine at a time: every copy is named at the old revision before the change, the agents report health under the service\'s name, and a successor continues', async () => {
    const raw = await client()
    const c = await cluster(raw)
    const g1 = await validateServiceSpec({image: 'example/cron:1', update: {healthyDeadline: 30, order: 'start-first'}})
    await c.store.putService('cron', g1)
    const log: string[] = []
    const a = await candidate(c.prefix, 'main-1', c.store, log)
    let leading = a
    const copies = ['cron.main-1', 'cron.main-2', 'cron.main-3']
    await until('a copy on every machine named at v1', async () => {
      const now = await assigned(raw, c.prefix)
      return copies.every((r) => now.get(r)?.specHash === shortSpecHash(g1) && now.get(r)?.machine === r.slice('cron.'.length))
    })
    for (const m of ['main-1', 'main-2', 'main-3']) await c.report(m, 'cron', 'healthy', `cron-${m}-v1`)

    const g2 = await validateServiceSpec({image: 'example/cron:2', update: {healthyDeadline: 30, order: 'start-first'}})
    await c.store.putService('cron', g2)
    const onV2 = async () => [...(await assigned(raw, c.prefix))].filter(([, r]) => r.specHash === shortSpecHash(g2)).map(([k]) => k).sort()
    const order: string[] = []
    for (const done of [0, 1, 2]) {
      const [copy, ...more] = await until(`batch ${done + 1}`, async () => {
        const r = await raw.get(rolloutKeys('cron', c.prefix).rollout).json() as RolloutRecord | null
        return r?.batchesDone === done && r.batch?.replicas
      })
      assert.deepEqual(more, [], 'one machine at a time (start-first rolls stop-first)')
      order.push(copy!)
      assert.deepEqual(await onV2(), [...order].sort(), 'only the batches so far name the new revision')
      assert.equal((await assigned(raw, c.prefix)).size, 3, 'a global service got an extra copy')
      const machine = copy!.slice('cron.'.length)
      await c.report(machine, 'cron', 'starting', `cron-${machine}-v2`)
      if (done === 1) {
        // The leader dies mid-rollout; its successor continues the same batch.
        const b = await candidate(c.prefix, 'main-2', c.store, log)
        await until('main-2 campaigns', async () => Object.values(await raw.getAll().prefix(`${schedulerKeys(c.prefix).namespace}election/`).strings()).includes('main-2'))
        await raw.leaseClient.leaseRevoke({ID: a.leadership!.key.slice(a.leadership!.key.lastIndexOf('/') + 1)})
        await until('main-2 leads', () => b.leading)
        await a.stop()
        leading = b
      }
      // A whole pass after the copy said `starting`: the batch must still wait for it.
      await passAfter(leading, () => c.refresh(machine))
      assert.deepEqual((await raw.get(rolloutKeys('cron', c.prefix).rollout).json() as RolloutRecord).batch?.replicas, [copy], 'moved on before the copy was healthy')
      await c.report(machine, 'cron', 'healthy', `cron-${machine}-v2`)
    }
    const end = await until('completed', async () => {
      const r = await raw.get(rolloutKeys('cron', c.prefix).rollout).json() as RolloutRecord | null
      return r?.state === 'completed' && r
    })
    assert.deepEqual(order, copies)
    assert.deepEqual([end.batchesDone, end.from, end.to, end.surged], [3, shortSpecHash(g1), shortSpecHash(g2), undefined])
    assert.deepEqual(await onV2(), copies)
  })

  it('a service stored without a revision (by a berth from before, or its installer) gets one with its first change, which then rolls', async () => {
    const raw = await client()
    const c = await cluster(raw)
    const g1 = await validateServiceSpec({image: 'example/cron:1', update: {healthyDeadline: 30}})
    await raw.put(rolloutKeys('cron', c.prefix).service).value(JSON.stringify(g1))
    await candidate(c.prefix, 'main-1', c.store)
    await until('3 copies named at the stored hash', async () => [...(await assigned(raw, c.prefix)).values()].filter((r) => r.specHash === shortSpecHash(g1)).length === 3)
    const g2 = await validateServiceSpec({image: 'example/cron:2', update: {healthyDeadline: 30}})
    await c.store.putService('cron', g2, {via: 'cli'})
    assert.deepEqual((await c.store.revisions('cron')).map((r) => [r.seq, r.hash, r.origin, r.note]), [[1, shortSpecHash(g1), 'unknown', 'stored before revisions'], [2, shortSpecHash(g2), 'cli', undefined]])
    const r = await until('batch 1', async () => {
      const r = await raw.get(rolloutKeys('cron', c.prefix).rollout).json() as RolloutRecord | null
      return r?.batch && r
    })
    assert.deepEqual([r.batch?.replicas.length, r.fromRevision, r.toRevision], [1, 1, 2])
    await c.store.putService('cron', await validateServiceSpec({image: 'example/cron:3', update: {healthyDeadline: 30}}))
    assert.equal((await c.store.revisions('cron')).length, 3, 'a spec with its revision kept is not appended again')
  })

  it('a global copy not healthy by its deadline rolls the service back, that machine first', async () => {
    const raw = await client()
    const c = await cluster(raw)
    const g1 = await validateServiceSpec({image: 'example/cron:1', update: {healthyDeadline: 1, minHealthySeconds: 0}})
    await c.store.putService('cron', g1)
    await candidate(c.prefix, 'main-1', c.store)
    await until('3 copies on v1', async () => [...(await assigned(raw, c.prefix)).values()].filter((r) => r.specHash === shortSpecHash(g1)).length === 3)
    for (const m of ['main-1', 'main-2', 'main-3']) await c.report(m, 'cron', 'healthy', `cron-${m}-v1`)
    const broken = await validateServiceSpec({image: 'example/cron:broken', update: {healthyDeadline: 1, minHealthySeconds: 0}})
    await c.store.putService('cron', broken)
    const [failing] = await until('batch 1', async () => {
      const r = await raw.get(rolloutKeys('cron', c.prefix).rollout).json() as RolloutRecord | null
      return r?.batch?.replicas
    })
    const machine = failing!.slice('cron.'.length)
    await c.report(machine, 'cron', 'unhealthy', `cron-${machine}-broken`, 'exited 1')
    const back = await until('rolling back', async () => {
      const r = await raw.get(rolloutKeys('cron', c.prefix).rollout).json() as RolloutRecord | null
      return r?.state === 'rolling-back' && r
    })
    assert.match(back.message ?? '', new RegExp(`batch 1 \\(${failing}\\) was not healthy within 1 s: ${failing} unhealthy \\(exited 1\\); rolling back to revision 1`))
    assert.equal((await c.store.services()).get('cron')?.image, 'example/cron:1')
    const others = [...(await assigned(raw, c.prefix))].filter(([k]) => k !== failing).map(([, r]) => r.specHash)
    assert.deepEqual(others, [shortSpecHash(g1), shortSpecHash(g1)], 'the other machines never left v1')
    await until(`${failing} back on v1`, async () => (await assigned(raw, c.prefix)).get(failing!)?.specHash === shortSpecHash(g1))
    await c.report(machine, 'cron', 'healthy', `cron-${machine}-v1-again`)
    await until('rolled back', async () => (await raw.get(rolloutKeys('cron', c.prefix).rollout).json() as RolloutRecord | null)?.state === 'rolled-back')
  })

  it('keeps the last 10 revisions, numbered on, and a change of scheduling fields only (a scale) rolls nothing', async () => {
    const raw = await client()
    const c = await cluster(raw)
    for (let i = 1; i <= 12; i++) await c.store.putService('web', await web(`example/web:${i}`))
    const revisions = await c.store.revisions('web')
    assert.deepEqual(revisions.map((r) => r.seq), [3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
    assert.equal((revisions.at(-1)!.spec as ServiceSpec).image, 'example/web:12')
    assert.equal(revisions.at(-1)!.hash, shortSpecHash(await web('example/web:12')))

    await candidate(c.prefix, 'main-1', c.store)
    await until('3 replicas placed', async () => (await assigned(raw, c.prefix)).size === 3)
    const scaled = {...await web('example/web:12'), replicas: 2, update: {parallelism: 2, healthyDeadline: 30}}
    await c.store.putService('web', scaled)
    await until('2 replicas on the new hash at once', async () => {
      const a = await assigned(raw, c.prefix)
      return a.size === 2 && [...a.values()].every((r) => r.specHash === shortSpecHash(scaled))
    })
    assert.equal(await rollout(raw, c.prefix), undefined, 'a scale started a rollout')

    assert.equal(await c.store.deleteService('web'), true)
    assert.deepEqual(await c.store.revisions('web'), [], 'revisions outlived their service')
  })
})
