/**
 * The agent's side of scheduling, with the real etcd store and a fake node (systemd cannot
 * run here; node-e2e.test.ts runs the real one): a machine runs exactly the replicas
 * assigned to it, as `<prefix><service>.<slot>` units, stops what moves away, leaves global
 * services as they were; cut off from etcd it keeps its replicas for the offline grace, then
 * stops them, and says so in its status.
 */
import assert from 'node:assert/strict'
import {mkdir} from 'node:fs/promises'
import path from 'node:path'
import {after, describe, it} from 'node:test'
import type {Etcd3} from 'etcd3'

import {AgentLoop} from '../../src/agent/loop/loop.js'
import {validateServiceSpec} from '../../src/spec/service.js'
import {EtcdStore} from '../../src/agent/store/store-etcd.js'
import {cachingRenderer} from '../../src/agent/plan/unit.js'
import {assignmentKey} from '../../src/layout/records.js'
import {scratch} from '../support/cli.js'
import {FakeNode} from '../agent/loop-fake-node.js'
import {privateEtcd, until} from '../agent/store-support.js'

const clients: Etcd3[] = []
after(() => clients.forEach((c) => c.close()))

async function setup(url: string, offlineGraceMs = 60_000) {
  const {Etcd3} = await import('etcd3')
  const raw = new Etcd3({hosts: [url]})
  clients.push(raw)
  const prefix = '/berth'
  const dir = await scratch('berth-replicas-')
  const unitDir = path.join(dir, 'units')
  await mkdir(unitDir, {recursive: true})
  const node = new FakeNode(unitDir)
  const store = new EtcdStore({endpoints: [url], prefix})
  after(() => store.close())
  const loop = new AgentLoop({
    store, ops: node, prefix: 'berth-', unitDir, envFileDir: path.join(dir, 'env'), render: cachingRenderer({envFileDir: path.join(dir, 'env')}), machine: 'main-1', role: 'main', resyncMs: 60_000,
    offlineGraceMs, openSecrets: async () => new Map(),
  })
  const assign = (replica: string, machine: string) => raw.put(assignmentKey(replica.split('.')[0]!, replica, prefix)).value(JSON.stringify({machine, specHash: 'x', since: new Date().toISOString()}))
  const put = async (name: string, spec: object) => raw.put(`${prefix}/services/${name}`).value(JSON.stringify(await validateServiceSpec(spec)))
  return {raw, node, loop, assign, put}
}

describe('an agent runs what is assigned to its machine', {timeout: 120_000}, () => {
  it('runs its replicas as <prefix><service>.<slot>, retires one moved away, and keeps global services as they were', async () => {
    const etcd = await privateEtcd()
    const {node, loop, assign, put, raw} = await setup(etcd.url)
    await put('web', {image: 'localhost/web:1', replicas: 3})
    await put('cron', {image: 'localhost/cron:1'})
    await assign('web.1', 'main-1')
    await assign('web.2', 'main-2')
    await assign('web.3', 'main-1')
    const first = await loop.pass()
    assert.equal(first.converged, true, JSON.stringify(first))
    assert.deepEqual(node.running(), ['berth-cron', 'berth-web.1', 'berth-web.3'])
    const labels = [...node.containersById.values()].find((c) => c.name === 'berth-web.1')
    assert.equal(labels?.service, 'web')

    await assign('web.3', 'main-2')
    const moved = await loop.pass()
    assert.deepEqual(moved.actions, ['stop berth-web.3.service', 'removeUnit berth-web.3.service', 'daemon-reload'])
    assert.deepEqual(node.running(), ['berth-cron', 'berth-web.1'])

    // A service turned global is every machine's again; its replicas' units go.
    await put('web', {image: 'localhost/web:1'})
    await raw.delete().prefix('/berth/assignments/').exec()
    await loop.pass()
    assert.deepEqual(node.running(), ['berth-cron', 'berth-web'])
  })

  it('cut off from etcd: changes nothing and says so, then stops only its replicas after the offline grace, and starts them again when etcd is back', async () => {
    const etcd = await privateEtcd()
    const {node, loop, assign, put} = await setup(etcd.url, 1500)
    await put('web', {image: 'localhost/web:1', replicas: 1})
    await put('cron', {image: 'localhost/cron:1'})
    await assign('web.1', 'main-1')
    const contact = Date.now()
    assert.equal((await loop.pass()).converged, true)
    await etcd.stop()
    const cut = await loop.pass()
    assert.equal(cut.converged, false)
    assert.deepEqual(cut.actions, [])
    assert.deepEqual(node.running(), ['berth-cron', 'berth-web.1'], 'a cut-off agent changed something before the grace')
    assert.equal(loop.status().store?.reachable, false)
    assert.match(loop.status().store?.error ?? '', /etcd/)
    // Passes until one stops the replica: it must be the first that acts, and not come before the 1.5 s grace.
    const late = await until('a pass stops the replica', async () => {
      const report = await loop.pass()
      return report.actions.length > 0 && report
    })
    assert.deepEqual(late.actions, ['stop berth-web.1.service'])
    assert.ok(Date.now() - contact >= 1500, `the replica stopped ${Date.now() - contact} ms after the last contact, within the grace`)
    assert.deepEqual(node.running(), ['berth-cron'], 'the global service must keep running')
    assert.ok(loop.status().store?.replicasStoppedAt)
    await etcd.start()
    await until('the agent converges with etcd back', async () => (await loop.pass()).converged)
    assert.deepEqual(node.running(), ['berth-cron', 'berth-web.1'])
    assert.equal(loop.status().store?.reachable, true)
  })
})
