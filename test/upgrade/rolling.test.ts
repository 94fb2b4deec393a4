/**
 * The rolling upgrade's executor against the real etcd of scripts/services.sh: its progress
 * record, waves and parallelism, the stop at the first failure with the rest untouched, the
 * refusal of a plain rerun, --resume and --abandon. The machines are stand-ins whose
 * "installer" writes the records a real one writes (the real nodes are in e2e.test.ts).
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {after, describe, it} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'

import {machineKeys, rollingUpgradeKey, type RollingUpgradeRecord} from '../../src/layout/records.js'
import type {Cluster, Machine} from '../../src/config/types.js'
import {UsageError} from '../../src/errors.js'
import {type ExecResult, machineShells, type MachineShells} from '../../src/machine/shell.js'
import {type RollingRequest, type RollingResult, RollingUpgradeStopped, rollingUpgrade} from '../../src/upgrade/rolling.js'
import {EtcdCluster, sharedEtcd} from '../../src/etcd/client.js'
import {RecordStore} from '../../src/etcd/records.js'
import {etcdUrl} from '../support/services.js'

const prefix = `/berth-test-rolling-${randomBytes(3).toString('hex')}`
const port = Number(new URL(etcdUrl()).port)
// The single member of the test etcd is a main machine named as its member is; the workers are stand-ins.
const cluster = {
  name: 'rolling', unitPrefix: 'berth-', registry: {url: '127.0.0.1:5055', insecure: true}, installer: {image: 'berth/installer:latest'},
  etcd: {clientPort: port, peerPort: 0, token: 't'}, services: {},
  machines: [{name: 'berth-test', ip: '127.0.0.1', role: 'main', labels: {}}, ...['w1', 'w2', 'w3'].map((name, i) => ({name, ip: `10.0.0.${i + 21}`, role: 'worker', labels: {}}))],
} as unknown as Cluster

/** Stand-in machines: every command succeeds; the installer writes the records (or fails where broken). */
function machines(store: RecordStore, broken: Set<string>) {
  const installs: string[] = []
  let running = 0
  let maxRunning = 0
  const remote = async (machine: Machine, command: string): Promise<ExecResult> => {
    if (!command.includes('systemctl start \'berth-installer.service\'')) return {code: 0, stdout: '', stderr: ''}
    running++
    maxRunning = Math.max(maxRunning, running)
    try {
      await sleep(50)
      if (broken.has(machine.name)) return {code: 1, stdout: '', stderr: 'broken on purpose'}
      installs.push(machine.name)
      const keys = machineKeys(machine.name, prefix)
      const image = /docker pull -q '([^']+)'/.exec(command)![1]!
      await store.put(keys.installed, {version: image.split(':').at(-1), image, result: 'ok', at: new Date().toISOString()})
      await store.put(keys.agent, {version: 'x', converged: true, lastPass: new Date().toISOString(), services: {web: 'active'}, errors: {}})
      return {code: 0, stdout: '', stderr: ''}
    } finally {
      running--
    }
  }
  return {remote: machineShells(async (machine) => ({exec: (command) => remote(machine, command), close: async () => {}})), installs, maxRunning: () => maxRunning}
}

describe('rolling upgrade executor (real etcd)', () => {
  let store: RecordStore
  after(async () => {
    const {Etcd3} = await import('etcd3')
    const client = new Etcd3({hosts: [etcdUrl()]})
    await client.delete().prefix(prefix).exec()
    client.close()
    store.close()
  })

  /** Every etcd client a flow made, through the connect its wiring hands it. */
  let connects = 0
  /** One flow, as the command wires it: one etcd client for the record, every machine's steps and gate. */
  const flow = async (remote: MachineShells, extra: Partial<RollingRequest>): Promise<RollingResult> => {
    const etcd = sharedEtcd([etcdUrl()], (endpoints) => {
      connects++
      return EtcdCluster.connect(endpoints)
    })
    try {
      return await rollingUpgrade({
        cluster, image: '2.0', maxParallel: 1, mode: 'start', dryRun: false, machines: remote, etcd, etcdPrefix: prefix, timeoutMs: 5000, log: () => {}, ...extra,
      })
    } finally {
      etcd.close()
    }
  }

  it('runs workers in waves of --max-parallel, then the main machine, and records the end', async () => {
    store = await RecordStore.connect([etcdUrl()])
    const fake = machines(store, new Set())
    const plan = await flow(fake.remote, {maxParallel: 2, dryRun: true})
    assert.equal(connects, 1, 'the dry run made one etcd client')
    assert.deepEqual(plan.waves.map((w) => w.machines), [['w1', 'w2'], ['w3'], ['berth-test']])
    assert.equal(await store.get(rollingUpgradeKey(prefix)), undefined, 'a dry run writes nothing')
    const result = await flow(fake.remote, {maxParallel: 2})
    assert.equal(connects, 2, 'the upgrade of four machines, their drains and health gates made one etcd client')
    assert.deepEqual(result.done, ['w1', 'w2', 'w3', 'berth-test'])
    assert.deepEqual(fake.installs.slice(2), ['w3', 'berth-test'])
    assert.equal(fake.maxRunning(), 2)
    const record = await store.get<RollingUpgradeRecord>(rollingUpgradeKey(prefix))
    assert.equal(record?.image, '127.0.0.1:5055/berth/installer:2.0')
    assert.ok(record?.finishedAt)
    const trail = await (await store.auditLog(prefix)).auditEntries()
    const upgraded = trail.filter((e) => e.action === 'machine.upgrade')
    assert.deepEqual(upgraded.map((e) => [e.action, e.target, e.detail?.image]).sort(), ['berth-test', 'w1', 'w2', 'w3'].map((m) => ['machine.upgrade', m, '127.0.0.1:5055/berth/installer:2.0']), 'one audit entry per machine upgraded, none for the dry run')
    // Each machine was drained of replicated work before its upgrade and readied after it.
    for (const action of ['machine.drain', 'machine.ready']) assert.deepEqual(trail.filter((e) => e.action === action).map((e) => e.target).sort(), ['berth-test', 'w1', 'w2', 'w3'], action)
  })

  it('stops at the first failure, refuses a plain rerun, resumes, and can be abandoned', async () => {
    const broken = new Set(['w2'])
    const fake = machines(store, broken)
    await assert.rejects(flow(fake.remote, {image: '3.0'}), (error: Error) => {
      assert.ok(error instanceof RollingUpgradeStopped)
      assert.match(error.message, /^rolling upgrade stopped at w2, step "Run the installer 127\.0\.0\.1:5055\/berth\/installer:3\.0 on w2": w2 \(10\.0\.0\.22\): .* exited with 1: broken on purpose; 1 of 4 machines done; fix it and run again with --resume$/)
      return true
    })
    assert.deepEqual(fake.installs, ['w1'], 'w3 and the main machine untouched')
    assert.deepEqual((await (await store.auditLog(prefix)).auditEntries()).filter((e) => e.detail?.image?.endsWith(':3.0')).map((e) => e.target), ['w1'], 'no entry for the machine whose upgrade failed')
    const record = await store.get<RollingUpgradeRecord>(rollingUpgradeKey(prefix))
    assert.deepEqual([record?.done, record?.failed?.machine, record?.finishedAt], [['w1'], 'w2', undefined])

    await assert.rejects(flow(fake.remote, {image: '3.0'}), (error: Error) => error instanceof UsageError && /continue it with --resume, or drop it with --abandon/.test(error.message))
    await assert.rejects(flow(fake.remote, {image: '4.0', mode: 'resume'}), /the unfinished upgrade installs 127\.0\.0\.1:5055\/berth\/installer:3\.0/)

    broken.clear()
    const resumed = await flow(fake.remote, {image: undefined, mode: 'resume'})
    assert.deepEqual(resumed.done, ['w1', 'w2', 'w3', 'berth-test'])
    assert.deepEqual(fake.installs, ['w1', 'w2', 'w3', 'berth-test'], 'w1 not upgraded twice')

    broken.add('w1')
    await assert.rejects(flow(fake.remote, {image: '5.0'}), RollingUpgradeStopped)
    const abandoned = await flow(fake.remote, {mode: 'abandon'})
    assert.equal(abandoned.finished, false)
    await assert.rejects(flow(fake.remote, {mode: 'resume'}), /there is no unfinished rolling upgrade to resume/)
  })
})
