/**
 * The agent runs, for each replica assigned to its machine, the spec revision its
 * assignment names (the leader's rolling update moves them one batch at a time), with the
 * real etcd store and a fake node: the unit of a replica still on the old revision keeps
 * the old image while its neighbour runs the new one; a revision no longer kept runs the
 * current spec. A global copy runs under its own unit at the revision `<service>.<machine>`
 * names, and at the current spec while nothing names it.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {existsSync} from 'node:fs'
import {mkdir, readFile} from 'node:fs/promises'
import path from 'node:path'
import {after, describe, it} from 'node:test'
import type {Etcd3} from 'etcd3'

import {shortSpecHash} from '../../src/hash.js'
import {AgentLoop} from '../../src/agent/loop/loop.js'
import {EtcdStore} from '../../src/agent/store/store-etcd.js'
import {cachingRenderer} from '../../src/agent/plan/unit.js'
import {assignmentKey} from '../../src/layout/records.js'
import {validateServiceSpec, type ServiceSpec} from '../../src/spec/service.js'
import {scratch} from '../support/cli.js'
import {FakeNode} from '../agent/loop-fake-node.js'
import {testService} from '../agent/store-support.js'

const endpoint = testService('BERTH_TEST_ETCD')
const clients: Etcd3[] = []
after(() => clients.forEach((c) => c.close()))

/** A fresh prefix on the real etcd, its store, and the agent loop of machine main-1 over a fake node. */
async function agentOnEtcd() {
  const {Etcd3} = await import('etcd3')
  const raw = new Etcd3({hosts: [endpoint]})
  clients.push(raw)
  const prefix = `/berth-rev-${randomBytes(4).toString('hex')}`
  after(async () => {
    await raw.delete().prefix(`${prefix}/`).exec()
  })
  const dir = await scratch('berth-revision-')
  const unitDir = path.join(dir, 'units')
  await mkdir(unitDir, {recursive: true})
  const store = new EtcdStore({endpoints: [endpoint], prefix})
  after(() => store.close())
  const loop = new AgentLoop({
    store, ops: new FakeNode(unitDir), prefix: 'berth-', unitDir, envFileDir: path.join(dir, 'env'), render: cachingRenderer({envFileDir: path.join(dir, 'env')}), machine: 'main-1', role: 'main', resyncMs: 60_000, openSecrets: async () => new Map(),
  })
  return {raw, prefix, store, loop, unitDir}
}

describe('an agent runs the revision its assignment names', {timeout: 60_000}, () => {
  it('runs web.1 on the old revision and web.2 on the new one, and a hash no longer kept on the current spec', async () => {
    const {raw, prefix, store, loop, unitDir} = await agentOnEtcd()
    const v1 = await validateServiceSpec({image: 'localhost/web:1', replicas: 2})
    const v2 = await validateServiceSpec({image: 'localhost/web:2', replicas: 2})
    await store.putService('web', v1)
    await store.putService('web', v2)
    const assign = (replica: string, hash: string) => raw.put(assignmentKey('web', replica, prefix)).value(JSON.stringify({machine: 'main-1', specHash: hash, since: new Date().toISOString()}))
    await assign('web.1', shortSpecHash(v1))
    await assign('web.2', shortSpecHash(v2))

    const {desired} = await loop.desired()
    assert.deepEqual([...desired].map(([replica, spec]) => [replica, spec.image]), [['web.1', 'localhost/web:1'], ['web.2', 'localhost/web:2']])
    const pass = await loop.pass()
    assert.equal(pass.converged, true, JSON.stringify(pass))
    assert.match(await readFile(path.join(unitDir, 'berth-web.1.service'), 'utf8'), /localhost\/web:1/)
    assert.match(await readFile(path.join(unitDir, 'berth-web.2.service'), 'utf8'), /localhost\/web:2/)

    await assign('web.1', 'feedfacefeedface')
    assert.equal((await loop.desired()).desired.get('web.1')?.image, 'localhost/web:2', 'an unknown revision must run the current spec')
  })

  it('runs a global copy under its own unit at the revision its assignment <service>.<machine> names; a change waits for the leader to move it; no assignment runs the current spec', async () => {
    const {raw, prefix, store, loop, unitDir} = await agentOnEtcd()
    const unit = () => readFile(path.join(unitDir, 'berth-cron.service'), 'utf8')
    const [g1, g2, g3] = await Promise.all([1, 2, 3].map((n) => validateServiceSpec({image: `localhost/cron:${n}`}))) as [ServiceSpec, ServiceSpec, ServiceSpec]
    // The first change after the upgrade: no leader has named the copy yet, so it runs the current spec, as before.
    await store.putService('cron', g1)
    assert.equal((await loop.desired()).desired.get('cron')?.image, 'localhost/cron:1')
    const assign = (machine: string, hash: string) => raw.put(assignmentKey('cron', `cron.${machine}`, prefix)).value(JSON.stringify({machine, specHash: hash, since: new Date().toISOString()}))
    await assign('main-1', shortSpecHash(g1))
    await assign('main-2', shortSpecHash(g2))
    assert.equal((await loop.pass()).converged, true)
    assert.match(await unit(), /localhost\/cron:1/)

    // The spec changes; the leader has not moved this machine's copy: it keeps its revision, and nothing restarts.
    await store.putService('cron', g2)
    const {desired} = await loop.desired()
    assert.deepEqual([...desired].map(([name, spec]) => [name, spec.image]), [['cron', 'localhost/cron:1']], 'another machine\'s assignment or the new spec leaked in')
    const kept = await loop.pass()
    assert.deepEqual([kept.actions, kept.converged], [[], true])
    await assign('main-1', shortSpecHash(g2))
    const moved = await loop.pass()
    assert.ok(moved.actions.some((a) => a.includes('berth-cron.service')), JSON.stringify(moved.actions))
    assert.match(await unit(), /localhost\/cron:2/)
    assert.equal(existsSync(path.join(unitDir, 'berth-cron.main-1.service')), false, 'a global copy must keep its unit name')

    // The assignment gone (the machine lost, then back before the leader names it again): the current spec.
    await store.putService('cron', g3)
    await raw.delete().key(assignmentKey('cron', 'cron.main-1', prefix)).exec()
    assert.equal((await loop.desired()).desired.get('cron')?.image, 'localhost/cron:3')
  })
})
