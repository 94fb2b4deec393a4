/**
 * The scheduler's etcd wiring against the real etcd: two candidates campaign, the leader's
 * writes are fenced (a deposed leader's write fails), assignments follow machines coming
 * and going, and a leader killed between two transactions is finished by its successor.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {after, afterEach, describe, it} from 'node:test'
import {fileURLToPath} from 'node:url'
import type {Etcd3} from 'etcd3'
import {execa} from 'execa'

import {validateServiceSpec, type ServiceSpec} from '../../src/spec/service.js'
import {assignmentKey, type AssignmentRecord, machineKeys, type MachineFacts, type PendingRecord, schedulerKeys} from '../../src/layout/records.js'
import {DeposedError} from '../../src/scheduler/leadership.js'
import {SchedulerCandidate, type LeaderOptions} from '../../src/scheduler/leader.js'
import {sleep, testService, until} from '../agent/store-support.js'
import {testDemandOf, testPlace} from './test-placement.js'

const endpoints = [testService('BERTH_TEST_ETCD')]
const clients: Etcd3[] = []
const candidates: SchedulerCandidate[] = []

async function client(): Promise<Etcd3> {
  const {Etcd3} = await import('etcd3')
  const c = new Etcd3({hosts: endpoints})
  clients.push(c)
  return c
}

afterEach(async () => {
  await Promise.all(candidates.splice(0).map((c) => c.stop().catch(() => undefined)))
})
after(() => {
  for (const c of clients) c.close()
})

const facts = (role: MachineFacts['role'] = 'main'): MachineFacts => ({role, labels: {}, capacity: {memoryMb: 1024, cpus: 2}})

/** A fresh prefix with machines that have facts and (leased) agent records; returns the lease per machine. */
async function cluster(raw: Etcd3, machines: string[]) {
  const prefix = `/berth-sched-${randomBytes(4).toString('hex')}`
  after(async () => {
    for (const lease of leases.values()) await lease.revoke().catch(() => undefined)
    await raw.delete().prefix(`${prefix}/`).exec()
  })
  const leases = new Map<string, import('etcd3').Lease>()
  const alive = async (m: string): Promise<void> => {
    const lease = raw.lease(30)
    await lease.grant()
    leases.set(m, lease)
    await lease.put(machineKeys(m, prefix).agent).value(JSON.stringify({converged: true}))
  }
  for (const m of machines) {
    await raw.put(machineKeys(m, prefix).facts).value(JSON.stringify(facts()))
    await alive(m)
  }
  return {prefix, leases, alive, dead: async (m: string) => leases.get(m)!.revoke()}
}

async function spec(replicas: number): Promise<ServiceSpec> {
  return {...(await validateServiceSpec({image: 'example/web:1'})), replicas} as ServiceSpec
}

async function candidate(prefix: string, machine: string, services: () => Promise<Map<string, ServiceSpec>>, extra: Partial<LeaderOptions> = {}): Promise<SchedulerCandidate> {
  const c = new SchedulerCandidate({client: await client(), prefix, machine, services, place: testPlace, demandOf: testDemandOf, lostAfterMs: 500, ttlSeconds: 2, ...extra})
  candidates.push(c)
  c.start()
  return c
}

async function assignments(raw: Etcd3, prefix: string): Promise<Record<string, string>> {
  const values = await raw.getAll().prefix(schedulerKeys(prefix).assignments).strings()
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [k.slice(schedulerKeys(prefix).assignments.length), (JSON.parse(v) as AssignmentRecord).machine]))
}

describe('scheduler leader against the real etcd', {timeout: 120_000}, () => {
  it('elects one of two candidates, and a deposed leader\'s fenced write fails while its successor\'s succeeds', async () => {
    const raw = await client()
    const {prefix} = await cluster(raw, [])
    const none = async () => new Map<string, ServiceSpec>()
    const a = await candidate(prefix, 'main-1', none)
    await until('main-1 leads', () => a.leading)
    const b = await candidate(prefix, 'main-2', none)
    // main-2's campaign key is in the election, behind main-1's: it campaigns, and waits.
    await until('main-2 campaigns', async () => Object.values(await raw.getAll().prefix(`${schedulerKeys(prefix).namespace}election/`).strings()).includes('main-2'))
    assert.equal(b.leading, false, 'two leaders at once')
    const first = a.leadership!
    const key = assignmentKey('web', 'web.1', prefix)
    await first.commit([raw.put(key).value('"from main-1"')])
    assert.equal(await raw.get(key).string(), '"from main-1"')

    // main-1 is cut off: its election lease expires (revoked here, as etcd would at its TTL).
    const lease = first.key.slice(first.key.lastIndexOf('/') + 1)
    await raw.leaseClient.leaseRevoke({ID: lease})
    await until('main-2 leads', () => b.leading)
    await assert.rejects(first.commit([raw.put(key).value('"stale main-1"')]), DeposedError)
    assert.equal(await raw.get(key).string(), '"from main-1"', 'the deposed leader wrote')
    await b.leadership!.commit([raw.put(key).value('"from main-2"')])
    assert.equal(await raw.get(key).string(), '"from main-2"')
    await until('main-1 notices and stops leading', () => !a.leading)
  })

  it('places replicas on live machines, moves those of a machine gone past lostAfter, keeps them when it returns, and lists the pending', async () => {
    const raw = await client()
    const c = await cluster(raw, ['main-1', 'main-2', 'main-3'])
    const services = new Map([['web', await spec(2)], ['api', await spec(4)]])
    const leader = await candidate(c.prefix, 'main-1', async () => services)
    const placed = await until('web and api placed', async () => {
      const a = await assignments(raw, c.prefix)
      return Object.keys(a).length === 5 && a
    })
    assert.deepEqual(Object.keys(placed).sort(), ['api/api.1', 'api/api.2', 'api/api.3', 'web/web.1', 'web/web.2'])
    assert.equal(new Set([placed['web/web.1'], placed['web/web.2']]).size, 2, 'web spread over two machines')
    const pending = await until('api.4 pending', async () => (await raw.get(schedulerKeys(c.prefix).pending).json() as PendingRecord | null)?.pending)
    assert.deepEqual(pending.map((p) => p.replica), ['api.4'])
    assert.equal(leader.leading, true)

    const victim = placed['web/web.1']!
    const started = Date.now()
    await c.dead(victim)
    const moved = await until('web.1 moved off the lost machine', async () => {
      const a = await assignments(raw, c.prefix)
      return a['web/web.1'] !== victim && a
    })
    assert.ok(Date.now() - started >= 450, `moved after ${Date.now() - started} ms, before lostAfter`)
    assert.equal(Object.values(moved).includes(victim), false, 'the lost machine still holds replicas')

    // The leader's pass that sees the machine back deletes its missing mark in the same
    // commit as any move that pass makes: once the mark is gone, a move back would be there.
    assert.notEqual(await raw.get(machineKeys(victim, c.prefix).missing).string(), null, 'the lost machine has its missing mark')
    await c.alive(victim)
    await until('the leader has seen the machine back', async () => (await raw.get(machineKeys(victim, c.prefix).missing).string()) === null)
    const back = await assignments(raw, c.prefix)
    assert.equal(back['web/web.1'], moved['web/web.1'], 'a returning machine took its replica back (placement must be stable)')

    services.delete('api')
    await raw.put(`${c.prefix}/services/api`).value('{}')
    await raw.delete().key(`${c.prefix}/services/api`).exec()
    await until('api\'s assignments removed', async () => Object.keys(await assignments(raw, c.prefix)).every((k) => k.startsWith('web/')))
  })

  it('a new leader keeps the lost clock its predecessor started: a machine lost during a failover moves lostAfter after it went, not after the new leader came', async () => {
    const raw = await client()
    const c = await cluster(raw, ['main-1', 'main-2', 'main-3'])
    const services = new Map([['web', await spec(2)]])
    const lostAfterMs = 4000
    const a = await candidate(c.prefix, 'leader-a', async () => services, {lostAfterMs})
    const placed = await until('web placed', async () => {
      const now = await assignments(raw, c.prefix)
      return Object.keys(now).length === 2 && now
    })
    const victim = placed['web/web.1']!
    const died = Date.now()
    await c.dead(victim)
    const mark = await until<{since: string}>('the leader marks the machine missing', async () => (await raw.get(machineKeys(victim, c.prefix).missing).json()) as {since: string} | null ?? undefined)
    await sleep(1500)
    const b = await candidate(c.prefix, 'leader-b', async () => services, {lostAfterMs})
    await a.stop()
    await until('leader-b leads', () => b.leading)
    const ledAt = Date.now()
    await until('web.1 moved off the lost machine', async () => (await assignments(raw, c.prefix))['web/web.1'] !== victim, 20_000)
    const movedAt = Date.now()
    // Counted from its own start, leader-b would move it no sooner than ledAt + lostAfter.
    assert.ok(movedAt < ledAt + lostAfterMs - 500, `moved ${movedAt - died} ms after the machine went, ${movedAt - ledAt} ms after leader-b led`)
    assert.ok(Math.abs(Date.parse(mark.since) - died) < 2000, `missing since ${mark.since}, died ${new Date(died).toISOString()}`)
    await c.alive(victim)
    await until('the mark is deleted once the machine is back', async () => (await raw.get(machineKeys(victim, c.prefix).missing).string()) === null)
  })

  it('a leader killed between two transactions of a pass is finished by its successor: every replica assigned once, none lost', async () => {
    const raw = await client()
    const c = await cluster(raw, ['main-1', 'main-2', 'main-3'])
    const services = new Map([['web', await spec(3)]])
    // SIGKILL between the first transaction and the second: nothing resigned, its lease runs out.
    const child = execa(process.execPath, [fileURLToPath(new URL('leader-child.js', import.meta.url)), endpoints[0]!, c.prefix, 'main-1', JSON.stringify(Object.fromEntries(services))], {reject: false})
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('mid') && resolve())
      void child.then((r) => reject(new Error(`the child leader ended: ${r.stderr}`)))
    })
    child.kill('SIGKILL')
    await child
    assert.equal(Object.keys(await assignments(raw, c.prefix)).length, 1, 'the first transaction alone was written')
    const b = await candidate(c.prefix, 'main-2', async () => services)
    const done = await until('the successor places the rest', async () => {
      const x = await assignments(raw, c.prefix)
      return Object.keys(x).length === 3 && x
    })
    assert.equal(b.leading, true)
    assert.equal(new Set(Object.values(done)).size, 3)
  })
})
