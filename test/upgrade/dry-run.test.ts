/**
 * `upgrade-machine --dry-run` against the real etcd of scripts/services.sh: each step says
 * what it would do with its arguments (the image, the machine, whether it drains), read
 * from the live cluster, and nothing is run on the machine or written to etcd.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {after, describe, it} from 'node:test'

import {planOrRun} from '../../src/cli/progress.js'
import type {Cluster} from '../../src/config/types.js'
import {EtcdCluster, sharedEtcd} from '../../src/etcd/client.js'
import {RecordStore} from '../../src/etcd/records.js'
import {machineKeys} from '../../src/layout/records.js'
import {machineShells} from '../../src/machine/shell.js'
import {upgradeMachineSteps} from '../../src/upgrade/machine.js'
import {deleteEtcdPrefix, etcdUrl} from '../support/services.js'

const prefix = `/berth-test-upgrade-dry-${randomBytes(3).toString('hex')}`
const port = Number(new URL(etcdUrl()).port)
const cluster = {
  name: 'dry', unitPrefix: 'berth-', registry: {url: '127.0.0.1:5055', insecure: true}, installer: {image: 'berth/installer:latest'},
  etcd: {clientPort: port, peerPort: 0, token: 't'}, services: {},
  machines: [{name: 'berth-test', ip: '127.0.0.1', role: 'main', labels: {}}, {name: 'w1', ip: '10.0.0.21', role: 'worker', labels: {}}],
} as unknown as Cluster
const unreachable = async (): Promise<never> => {
  throw new Error('a dry run must not reach a machine')
}

describe('upgrade-machine --dry-run (real etcd)', () => {
  const stores: RecordStore[] = []
  after(async () => {
    await deleteEtcdPrefix(prefix)
    stores.forEach((s) => s.close())
  })

  const dryRun = async (balancer: boolean): Promise<string[]> => {
    const hooks = {drain: unreachable, ready: unreachable}
    // The previews read etcd one after the other through the plan's one client.
    let connects = 0
    const etcd = sharedEtcd([etcdUrl()], (endpoints) => {
      connects++
      return EtcdCluster.connect(endpoints)
    })
    const {image, steps} = upgradeMachineSteps({cluster, machine: 'w1', image: '2.0', machines: machineShells(unreachable), etcd, etcdPrefix: prefix, timeoutMs: 30_000, ...(balancer ? {balancer: hooks} : {})})
    assert.equal(image, '127.0.0.1:5055/berth/installer:2.0')
    const printed: string[] = []
    const result = await planOrRun({steps, close: () => etcd.close()}, {dryRun: true, mode: 'silent', log: (t) => printed.push(t)})
    assert.equal(printed.join('\n'), result!.plan.map((line, i) => `${i + 1}. ${line}`).join('\n'))
    assert.equal(connects, 1, 'one etcd client for every preview')
    return result!.plan
  }

  it('names the image, the machine and what it drains; an operator\'s drain is left in place', async () => {
    const image = '127.0.0.1:5055/berth/installer:2.0'
    const plan = await dryRun(true)
    assert.ok(plan.includes(`Drain w1 of replicated work (its replicas move to other machines first): would mark w1 drained (reason: upgrade to ${image}) and move nothing: no replicated services on it`), plan.join('\n'))
    assert.ok(plan.includes('Drain w1 from the balancer: would take w1 (10.0.0.21) out of the balancer'), plan.join('\n'))
    assert.ok(plan.includes(`Run the installer ${image} on w1: would write /etc/berth/cluster.json (installer image ${image}) on w1 (10.0.0.21), pull ${image} and start berth-installer.service`), plan.join('\n'))
    assert.ok(plan.includes('Take w1 back into placement (unless it was drained before the upgrade): would take it back into placement'), plan.join('\n'))
    assert.ok(plan.includes(`Wait until w1 is healthy (etcd, installer record, agent converged, services active): would wait up to 30 s for version ${image}`), plan.join('\n'))

    const store = await RecordStore.connect([etcdUrl()])
    stores.push(store)
    assert.equal(await store.get(machineKeys('w1', prefix).drain), undefined, 'the dry run drained nothing')
    await store.put(machineKeys('w1', prefix).drain, {since: '2026-01-02T03:04:05.000Z', reason: 'disk'})
    const without = await dryRun(false)
    assert.ok(!without.some((line) => line.includes('balancer')), without.join('\n'))
    assert.ok(without.includes('Take w1 back into placement (unless it was drained before the upgrade): would leave it drained: an operator drained it at 2026-01-02T03:04:05.000Z'), without.join('\n'))
  })
})
