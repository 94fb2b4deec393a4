import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import path from 'node:path'
import {after, describe, it} from 'node:test'

import {quartermasterDeps} from '../../src/agent/api/quartermaster.js'
import {EtcdStore} from '../../src/agent/store/store-etcd.js'
import {RecordStore} from '../../src/etcd/records.js'
import {assignmentKey, machineKeys} from '../../src/layout/records.js'
import {berth, type CliResult} from '../support/cli.js'
import {testApi} from '../agent/api-support.js'
import {testService} from '../agent/store-support.js'

/** `berth service run|status|stop` against a real admin API over a real etcd. */

const endpoints = [testService('BERTH_TEST_ETCD')]
const prefix = `/berth-qmcli-${randomBytes(4).toString('hex')}`
const store = new EtcdStore({endpoints, prefix})
const records = await RecordStore.connect(endpoints)
const api = await testApi({store, deps: quartermasterDeps({kind: 'etcd', endpoints, prefix}, 'berth-', async () => {
  throw new Error('the CLI sends no auth')
})})
const connect = ['--url', api.url, '--token-file', path.join(api.dir, 'api-token'), '--ca', path.join(api.dir, 'api.crt')]
after(async () => {
  for (const key of (await records.getAll(`${prefix}/`, {lenient: true})).keys()) await records.delete(key)
  records.close()
  await store.close()
})

function ok(result: CliResult): string {
  assert.equal(result.exitCode, 0, result.stderr)
  return result.stdout
}

describe('berth service run, status, stop', () => {
  it('runs an image with its argv as given, labels and memory; says where it is; stops it', async () => {
    const out = ok(await berth(['service', 'run', 'user/image', '--name', 'my_service', '--label', 'team=data', '--memory', '512', ...connect, '--', 'sh', '-c', 'echo "a b"']))
    const id = /^Started (run-my-service-[0-9a-f]{16}) \(user\/image\); see it with: berth service status \1$/.exec(out)?.[1]
    assert.ok(id, out)
    assert.deepEqual((await store.services()).get(id), {
      image: 'user/image', command: ['sh', '-c', 'echo "a b"'], labels: {team: 'data'}, memory: '512m', resources: {memory: '512m'},
      mode: 'replicated', replicas: 1, roles: ['worker'], stopTimeout: 10, restart: 'always',
    })
    assert.equal(ok(await berth(['service', 'status', id, ...connect])), `${id}: pending`)
    await records.put(assignmentKey(id, `${id}.1`, prefix), {machine: 'worker-1', specHash: 'x', since: new Date().toISOString()})
    await records.put(machineKeys('worker-1', prefix).agent, {version: 't', converged: true, lastPass: new Date().toISOString(), services: {[`${id}.1`]: 'active'}, errors: {}})
    assert.deepEqual(JSON.parse(ok(await berth(['service', 'status', id, '--json', ...connect]))), {id, status: 'started'})
    assert.deepEqual(JSON.parse(ok(await berth(['service', 'stop', id, '--json', ...connect]))), {id})
    assert.equal((await store.services()).has(id), false)
  })

  it('answers --json for run and takes an image without a command', async () => {
    const {id} = JSON.parse(ok(await berth(['service', 'run', 'busybox', '--json', ...connect]))) as {id: string}
    assert.match(id, /^run-[0-9a-f]{16}$/)
    assert.equal((await store.services()).get(id)?.command, undefined)
    assert.equal(ok(await berth(['service', 'stop', id, ...connect])), `Stopped ${id}.`)
  })

  it('fails clearly: an unknown id exits 1, a bad label or memory exits 2, nothing stored', async () => {
    const unknown = await berth(['service', 'status', 'run-0123456789abcdef', ...connect])
    assert.equal(unknown.exitCode, 1)
    assert.equal(unknown.stderr, `berth: ${api.url}: Service not found: no run has id "run-0123456789abcdef"`)
    assert.equal((await berth(['service', 'stop', 'run-0123456789abcdef', ...connect])).exitCode, 1)
    const label = await berth(['service', 'run', 'a', '--label', 'novalue', ...connect])
    assert.equal(label.exitCode, 2)
    assert.match(label.stderr, /--label: "novalue" is not KEY=VALUE/)
    const reserved = await berth(['service', 'run', 'a', '--label', 'berth.service=web', ...connect])
    assert.equal(reserved.exitCode, 2)
    assert.match(reserved.stderr, /labels\/berth\.service: uses the reserved berth\. prefix/)
    assert.equal((await berth(['service', 'run', 'a', '--memory', '2', ...connect])).exitCode, 2)
    assert.deepEqual([...(await store.services()).keys()], [])
  })

  it('has --help with examples', async () => {
    for (const command of ['run', 'stop', 'status']) {
      const help = ok(await berth(['service', command, '--help']))
      assert.match(help, /EXAMPLES/)
      assert.match(help, /--json/)
    }
  })
})
