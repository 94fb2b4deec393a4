/**
 * Draining a machine against the real etcd: the drain record the scheduler reads, its audit
 * entries, and the wait until every replicated replica it had runs elsewhere (assignments
 * and agent records written here as the leader and the agents would).
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {after, describe, it} from 'node:test'

import {assignmentKey, machineKeys, type AgentRecord} from '../../src/layout/records.js'
import {drainLeft, drainMachine, readyMachine, replicaRowsNow, replicatedOn, waitDrained} from '../../src/cluster/drain.js'
import {RecordStore} from '../../src/etcd/records.js'
import type {ReplicaRow} from '../../src/scheduler/ps.js'
import {testService, until} from '../agent/store-support.js'

const prefix = `/berth-drain-${randomBytes(4).toString('hex')}`
const agent = (services: Record<string, string>): AgentRecord => ({version: '0.1.0', converged: true, lastPass: new Date().toISOString(), services, errors: {}})
const row = (replica: string, machine: string | undefined, observed: string, since?: string): ReplicaRow => ({replica, service: replica.split('.')[0]!, machine, desired: 'running', observed, ...(since ? {since} : {})})

describe('what keeps a drain from being done', () => {
  const rows = [row('api.1', 'm1', 'active', 't'), row('api.2', 'm2', 'active', 't'), row('web.m1', 'm1', 'active'), row('job.1', 'm1', 'active', 't')]
  it('counts the replicated services on the machine, never its global copies', () => {
    assert.deepEqual([...replicatedOn(rows, 'm1')].sort(), ['api', 'job'])
  })
  it('lists replicas still on it, not yet running where they went, or pending with the reason', () => {
    assert.deepEqual(drainLeft(rows, 'm1', new Set(['api', 'job'])), ['api.1 still on m1', 'job.1 still on m1'])
    assert.deepEqual(drainLeft([row('api.1', 'm3', 'activating', 't'), row('api.2', 'm2', 'active', 't'), {...row('job.1', undefined, 'pending'), reason: 'no machine with role worker'}, row('web.m1', 'm1', 'active')], 'm1', new Set(['api', 'job'])),
      ['api.1 activating on m3', 'job.1 pending: no machine with role worker'])
    assert.deepEqual(drainLeft([row('api.1', 'm3', 'active', 't'), row('web.m1', 'm1', 'active')], 'm1', new Set(['api'])), [])
  })
})

describe('machine drain and ready (real etcd)', async () => {
  const store = await RecordStore.connect([testService('BERTH_TEST_ETCD')])
  const client = (store as unknown as {client: import('etcd3').Etcd3}).client
  after(async () => {
    await client.delete().prefix(`${prefix}/`).exec()
    store.close()
  })

  it('writes the drain record once, deletes it on ready, and audits both', async () => {
    assert.equal(await drainMachine(store, 'm1', {prefix}), false)
    assert.equal(await drainMachine(store, 'm1', {prefix}), true, 'drained already')
    assert.ok(await store.get(machineKeys('m1', prefix).drain))
    assert.equal(await readyMachine(store, 'm1', prefix), true)
    assert.equal(await readyMachine(store, 'm1', prefix), false)
    assert.equal(await store.get(machineKeys('m1', prefix).drain), undefined)
    const entries = await (await store.auditLog(prefix)).auditEntries()
    assert.deepEqual(entries.map((e) => [e.action, e.target, e.from.via]), [['machine.drain', 'm1', 'cli'], ['machine.ready', 'm1', 'cli']])
  })

  it('--wait returns once the replica moved and runs on its new machine, and names what is left at the deadline', async () => {
    await store.put(`${prefix}/services/api`, {image: 'api:1', replicas: 1, roles: ['main', 'worker']})
    await store.put(assignmentKey('api', 'api.1', prefix), {machine: 'm1', specHash: 'h', since: new Date().toISOString()})
    await store.put(machineKeys('m1', prefix).agent, agent({'api.1': 'active'}))
    await store.put(machineKeys('m2', prefix).agent, agent({}))
    const services = replicatedOn(await replicaRowsNow(store, 'berth-', prefix), 'm1')
    assert.deepEqual([...services], ['api'])
    await drainMachine(store, 'm1', {prefix})
    await assert.rejects(waitDrained(store, 'm1', services, {timeoutMs: 600, unitPrefix: 'berth-', prefix}), /m1 is drained, but not every replica runs elsewhere within 0\.6 s: api\.1 still on m1; see berth service ps/)

    const seen: string[][] = []
    const waiting = waitDrained(store, 'm1', services, {timeoutMs: 20_000, unitPrefix: 'berth-', prefix, onLeft: (left) => seen.push(left)})
    // The leader moves it; the new machine's agent starts it.
    await store.put(assignmentKey('api', 'api.1', prefix), {machine: 'm2', specHash: 'h', since: new Date().toISOString()})
    await store.put(machineKeys('m2', prefix).agent, agent({'api.1': 'activating'}))
    // Active only once the wait has reported the copy activating: it must say what it waits for.
    await until('the wait reports api.1 activating on m2', () => seen.some((left) => left.includes('api.1 activating on m2')))
    await store.put(machineKeys('m2', prefix).agent, agent({'api.1': 'active'}))
    await waiting
    assert.deepEqual(seen.at(-1), [])
    assert.ok(seen.some((left) => left.includes('api.1 activating on m2')), JSON.stringify(seen))
  })
})
