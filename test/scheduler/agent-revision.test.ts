/**
 * The agent runs, for each replica assigned to its machine, the spec revision its
 * assignment names (the leader's rolling update moves them one batch at a time), with the
 * real etcd store and a fake node: the unit of a replica still on the old revision keeps
 * the old image while its neighbour runs the new one; a revision no longer kept runs the
 * current spec.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdir, readFile} from 'node:fs/promises'
import path from 'node:path'
import {after, describe, it} from 'node:test'
import type {Etcd3} from 'etcd3'

import {shortSpecHash} from '../../src/hash.js'
import {AgentLoop} from '../../src/agent/loop/loop.js'
import {EtcdStore} from '../../src/agent/store/store-etcd.js'
import {cachingRenderer} from '../../src/agent/plan/unit.js'
import {assignmentKey} from '../../src/layout/records.js'
import {validateServiceSpec} from '../../src/spec/service.js'
import {scratch} from '../support/cli.js'
import {FakeNode} from '../agent/loop-fake-node.js'
import {testService} from '../agent/store-support.js'

const endpoint = testService('BERTH_TEST_ETCD')
const clients: Etcd3[] = []
after(() => clients.forEach((c) => c.close()))

describe('an agent runs the revision its assignment names', {timeout: 60_000}, () => {
  it('runs web.1 on the old revision and web.2 on the new one, and a hash no longer kept on the current spec', async () => {
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
      store, ops: new FakeNode(unitDir), prefix: 'berth-', unitDir, envFileDir: path.join(dir, 'env'), render: cachingRenderer(), machine: 'main-1', role: 'main', resyncMs: 60_000, openSecrets: async () => new Map(),
    })
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
})
