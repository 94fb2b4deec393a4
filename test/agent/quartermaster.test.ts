import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import path from 'node:path'
import {after, describe, it} from 'node:test'

import {quartermasterDeps} from '../../src/agent/api/quartermaster.js'
import {EtcdStore} from '../../src/agent/store/store-etcd.js'
import {openEtcd} from '../../src/etcd/open.js'
import {RecordStore} from '../../src/etcd/records.js'
import {assignmentKey, machineKeys} from '../../src/layout/records.js'
import {openSecret} from '../../src/secrets/envelope.js'
import {createMasterKey, LocalKeyProvider} from '../../src/secrets/local-key.js'
import {scratch} from '../support/cli.js'
import {send, testApi, type Exchange, type TestApi} from './api-support.js'
import {privateEtcd, testService} from './store-support.js'

/**
 * quartermaster's API on a real admin API over a real etcd: its README's requests as it
 * writes them (github.com/stevelacy/quartermaster, README "Usage"), every refusal in its
 * `{"success": false, "error": …}` shape with nothing stored, and the registry auth sealed.
 * The scheduler's assignment and the agent's record are written as they write them.
 */

const endpoints = [testService('BERTH_TEST_ETCD')]
const prefix = `/berth-qm-${randomBytes(4).toString('hex')}`
const dir = await scratch('berth-qm-')
const keyFile = path.join(dir, 'master.key')
await createMasterKey(keyFile)
const provider = await LocalKeyProvider.fromFile(keyFile)
const store = new EtcdStore({endpoints, prefix})
const records = await RecordStore.connect(endpoints)
const etcd = await openEtcd(endpoints)
const api = await testApi({store, deps: quartermasterDeps({kind: 'etcd', endpoints, prefix}, 'berth-', async () => provider)})
after(async () => {
  await etcd.delete().prefix(`${prefix}/`).exec()
  etcd.close()
  records.close()
  await store.close()
})

/** quartermaster's README sends every request with these headers. */
const readmeHeaders = {'cache-control': 'no-cache', 'content-type': 'application/json'}

function post(route: string, body: string, headers: Record<string, string> = readmeHeaders): Promise<Exchange> {
  return send(api, 'POST', route, {auth: false, body, headers})
}

/** A refusal as quartermaster's clients read it. */
function assertRefused(reply: Exchange, status: number, pattern?: RegExp): void {
  assert.equal(reply.status, status, reply.text)
  assert.match(String(reply.headers['content-type']), /^application\/json/)
  assert.equal(reply.json.success, false)
  assert.equal(reply.json.code, status)
  assert.equal(typeof reply.json.error, 'string')
  if (pattern) assert.match(reply.json.error as unknown as string, pattern)
}

/** Nothing of a run is stored: no service, no secret. */
async function assertNothingStored(): Promise<void> {
  assert.deepEqual([...(await store.services()).keys()].filter((n) => n.startsWith('run-')), [])
  assert.deepEqual(await store.secretNames(), [])
}

/** Every value in etcd, all of it: a secret must be in none of them. */
async function everyValue(): Promise<string> {
  const values = await etcd.getAll().buffers()
  return Object.entries(values).map(([key, value]) => `${key}=${value.toString('latin1')}`).join('\n')
}

describe('quartermaster README examples, unchanged', () => {
  let id = ''

  it('POST /run: runs a service on any worker, and answers its id', async () => {
    const reply = await post('/run', `{
  "token": "${api.token}",
  "command": "node index.js",
  "image": "user/image",
  "name": "my_service",
  "labels": { "name": "value" },
  "memory": 1024
}`)
    assert.equal(reply.status, 200, reply.text)
    assert.deepEqual(Object.keys(reply.json).sort(), ['id', 'success'])
    assert.equal(reply.json.success, true)
    id = reply.json.id as string
    assert.match(id, /^run-my-service-[0-9a-f]{16}$/)
    assert.deepEqual((await store.services()).get(id), {
      image: 'user/image', command: ['node', 'index.js'], labels: {name: 'value'}, memory: '1024m', resources: {memory: '1024m'},
      mode: 'replicated', replicas: 1, roles: ['worker'], stopTimeout: 10, restart: 'always',
    })
    assert.ok(api.syncs > 0, 'a pass was asked for')
  })

  it('GET /status/:id?token=: pending until the scheduler places it, then its agent\'s state in quartermaster\'s words', async () => {
    // As the README writes it: a GET with a JSON body (which is not read) and the token in the query.
    // curl -d sends a Content-Length: without one, Node's client would send a GET's body unframed.
    const body = `{
  "token": "6sdsd-94sdkf-43dsf-4245",
  "command": "sleep 50",
  "image": "alpine",
  "memory": 250,
  "labels": { "name": "value" },
  "type":"service"
  }`
    const status = (): Promise<Exchange> => send(api, 'GET', `/status/${id}?token=${api.token}`, {auth: false, headers: {'content-type': 'application/json', 'content-length': Buffer.byteLength(body)}, body})
    const word = async (): Promise<string> => {
      const reply = await status()
      assert.equal(reply.status, 200, reply.text)
      assert.deepEqual(Object.keys(reply.json).sort(), ['id', 'status', 'success'])
      assert.equal(reply.json.id, id)
      return reply.json.status as unknown as string
    }
    assert.equal(await word(), 'pending')
    const replica = `${id}.1`
    await records.put(assignmentKey(id, replica, prefix), {machine: 'worker-1', specHash: 'x', since: new Date().toISOString()})
    const agent = (state?: string) => ({version: 't', converged: true, lastPass: new Date().toISOString(), services: state ? {[replica]: state} : {}, errors: {}})
    await records.put(machineKeys('worker-1', prefix).agent, agent())
    assert.equal(await word(), 'preparing')
    for (const [state, expected] of [['activating', 'starting'], ['active', 'started'], ['failed', 'failed'], ['deactivating', 'shutdown']] as const) {
      await records.put(machineKeys('worker-1', prefix).agent, agent(state))
      assert.equal(await word(), expected, state)
    }
    await records.delete(machineKeys('worker-1', prefix).agent)
    assert.equal(await word(), 'orphaned')
  })

  it('POST /stop: stops and removes the service', async () => {
    const reply = await post('/stop', `{
  "token": "${api.token}",
  "id": "${id}"
  }`)
    assert.equal(reply.status, 200, reply.text)
    assert.deepEqual(reply.json, {success: true, id})
    assert.equal((await store.services()).has(id), false)
    assertRefused(await send(api, 'GET', `/status/${id}?token=${api.token}`, {auth: false}), 404, /Service not found/)
    await assertNothingStored()
  })

  it('POST /run with auth: the README\'s trailing comma is refused as quartermaster refused it, nothing stored', async () => {
    const reply = await post('/run', `{
  "token": "${api.token}",
  "command": "sleep 50",
  "image": "user/private-image",
  "auth":"eyJ1c2VybmFtZSI6InVzZXIiLCAicGFzc3dvcmQiOiJwYXNzd29yZCIsICJhdXRoIjoiIiwgImVtYWlsIjoibmFtZUBleGFtcGxlLmNvbSJ9",
}`)
    assertRefused(reply, 400, /not valid JSON/)
    await assertNothingStored()
  })

  it('POST /run with auth (the README\'s earlier version of the example): sealed, named by the spec, gone with /stop', async () => {
    const reply = await post('/run', `{
  "token": "${api.token}",
  "command": "sleep 50",
  "image": "user/private-image",
  "auth":"eyJ1c2VybmFtZSI6InVzZXIiLCAicGFzc3dvcmQiOiJwYXNzd29yZCIsICJhdXRoIjoiIiwgImVtYWlsIjoibmFtZUBleGFtcGxlLmNvbSJ9",
  "type": "service"
}`)
    assert.equal(reply.status, 200, reply.text)
    const runId = reply.json.id as string
    assert.match(runId, /^run-[0-9a-f]{16}$/)
    const spec = (await store.services()).get(runId)
    assert.equal(spec?.pullSecret, `pull_auth_${runId.replace(/-/g, '_')}`)
    assert.deepEqual(await store.secretNames(), [spec?.pullSecret])
    const blob = await store.sealedSecret(spec!.pullSecret!)
    assert.deepEqual(JSON.parse((await openSecret(spec!.pullSecret!, blob!, provider)).toString('utf8')), {username: 'user', password: 'password', email: 'name@example.com'})
    assert.equal((await post('/stop', JSON.stringify({token: api.token, id: runId}))).status, 200)
    await assertNothingStored()
  })
})

describe('quartermaster: the registry auth is never in the clear', () => {
  it('seals it before storing; no etcd value and no log line holds the password', async () => {
    const password = `pw-${randomBytes(12).toString('hex')}-canary`
    const auth = Buffer.from(JSON.stringify({username: 'robot', password, serveraddress: '127.0.0.1:5055'})).toString('base64')
    const reply = await post('/run', JSON.stringify({token: api.token, image: '127.0.0.1:5055/private/app:1', command: 'sleep 50', auth}))
    assert.equal(reply.status, 200, reply.text)
    const values = await everyValue()
    assert.ok(values.includes(`${prefix}/secrets/pull_auth_`), 'the sealed secret is there')
    for (const secret of [password, auth, Buffer.from(password).toString('base64')]) {
      assert.ok(!values.includes(secret), 'an etcd value holds the auth in the clear')
      assert.ok(!api.logs.join('\n').includes(secret), 'a log line holds the auth')
    }
    assert.ok(!api.logs.join('\n').includes(api.token), 'a log line holds the token')
    assert.equal((await post('/stop', JSON.stringify({token: api.token, id: reply.json.id}))).status, 200)
    await assertNothingStored()
  })
})

describe('quartermaster: bad input is refused in its shape, nothing stored', () => {
  const token = (): string => api.token
  const refusals: Array<[string, string, number, RegExp]> = [
    ['malformed JSON', '{"token": "T", "image": ', 400, /not valid JSON/],
    ['a body that is not an object', '["user/image"]', 400, /JSON object, not an array/],
    ['no image', '{"token": "T", "command": "sleep 5"}', 400, /image missing/],
    ['an image that is not a string', '{"token": "T", "image": 7}', 400, /image missing/],
    ['a command that is not a string', '{"token": "T", "image": "a", "command": {"x": 1}}', 400, /command must be a string/],
    ['memory that is not MB', '{"token": "T", "image": "a", "memory": "1g"}', 400, /memory must be a whole number of MB/],
    ['labels that are not strings', '{"token": "T", "image": "a", "labels": {"n": 1}}', 400, /labels must be an object of string values/],
    ['a berth. label', '{"token": "T", "image": "a", "labels": {"berth.service": "web"}}', 400, /labels\/berth\.service: uses the reserved berth\. prefix/],
    ['an image berth cannot run', '{"token": "T", "image": "-rm"}', 400, /image/],
    ['auth that is not base64', '{"token": "T", "image": "a", "auth": "not base64!"}', 400, /auth must be base64 of a Docker auth JSON object/],
    ['auth that is not an auth object', `{"token": "T", "image": "a", "auth": "${Buffer.from('[1]').toString('base64')}"}`, 400, /auth must be base64/],
    ['no token', '{"image": "user/image"}', 401, /Unauthorized/],
    ['a wrong token in the body', '{"token": "W", "image": "user/image"}', 401, /Unauthorized/],
  ]
  for (const [what, body, status, pattern] of refusals) {
    it(`POST /run: ${what} -> ${status}`, async () => {
      const text = body.replace('"T"', JSON.stringify(token())).replace('"W"', JSON.stringify(`${token()}x`))
      assertRefused(await post('/run', text), status, pattern)
      // The wrong token in the body wins over a right one in the query.
      if (what === 'a wrong token in the body') assertRefused(await post(`/run?token=${token()}`, text), 401)
      await assertNothingStored()
    })
  }

  it('POST /stop and GET /status: a wrong token in the body or the query, a missing id, an unknown id', async () => {
    assertRefused(await post('/stop', JSON.stringify({token: `${token()}x`, id: 'run-0123456789abcdef'})), 401)
    assertRefused(await post('/stop', '{"token": 1'), 400, /not valid JSON/)
    assertRefused(await post('/stop', JSON.stringify({token: token()})), 400, /id missing/)
    assertRefused(await post('/stop', JSON.stringify({token: token(), id: 'run-0123456789abcdef'})), 404, /Service not found/)
    assertRefused(await send(api, 'GET', `/status/run-0123456789abcdef?token=${token()}x`, {auth: false}), 401)
    assertRefused(await send(api, 'GET', '/status/run-0123456789abcdef', {auth: false}), 401)
    assertRefused(await send(api, 'GET', `/status/run-0123456789abcdef?token=${token()}`, {auth: false}), 404)
    assertRefused(await send(api, 'GET', `/status/a52f382c82a7d101b8ee3bbaa9ff59243b43c95915f1da579f35df0c4af0c822?token=${token()}`, {auth: false}), 404)
    assertRefused(await send(api, 'GET', `/status/?token=${token()}`, {auth: false}), 400, /service id missing/)
    assertRefused(await post('/run', JSON.stringify({token: token(), image: 'a'}), {'content-type': 'text/plain'}), 415, /Content-Type: application\/json/)
    assertRefused(await send(api, 'GET', `/run?token=${token()}`, {auth: false}), 405)
    assertRefused(await send(api, 'POST', `/status/x?token=${token()}`, {auth: false}), 405)
    await assertNothingStored()
  })

  it('touches no service that /run did not make, and the query token opens no other route', async () => {
    const put = await send(api, 'PUT', '/v1/services/web', {body: '{"image": "web:1"}', headers: {'content-type': 'application/json'}})
    assert.equal(put.status, 200, put.text)
    assertRefused(await post('/stop', JSON.stringify({token: token(), id: 'web'})), 404)
    assertRefused(await send(api, 'GET', `/status/web?token=${token()}`, {auth: false}), 404)
    assert.equal((await store.services()).has('web'), true)
    for (const [method, route] of [['GET', '/v1/services'], ['GET', '/v1/services/web'], ['DELETE', '/v1/services/web'], ['GET', '/v1/status']] as const) {
      const reply = await send(api, method, `${route}?token=${token()}`, {auth: false})
      assert.equal(reply.status, 401, `${method} ${route}`)
      assert.equal(reply.json.error?.code, 'unauthorized')
    }
    assert.equal((await store.services()).has('web'), true)
    assert.equal((await send(api, 'DELETE', '/v1/services/web')).status, 200)
  })

  it('refuses auth on an agent with no key provider, storing nothing', async () => {
    const plain: TestApi = await testApi({store, deps: {replicas: undefined}})
    const auth = Buffer.from(JSON.stringify({username: 'u', password: 'p'})).toString('base64')
    const reply = await send(plain, 'POST', '/run', {auth: false, headers: readmeHeaders, body: JSON.stringify({token: plain.token, image: 'a', auth})})
    assertRefused(reply, 400, /no key provider/)
    await assertNothingStored()
  })

  it('accepts berth\'s own bearer header and an argv list', async () => {
    const reply = await send(api, 'POST', '/run', {headers: readmeHeaders, body: JSON.stringify({image: 'a', command: ['sh', '-c', 'echo "a b"']})})
    assert.equal(reply.status, 200, reply.text)
    const id = reply.json.id as string
    assert.deepEqual((await store.services()).get(id)?.command, ['sh', '-c', 'echo "a b"'])
    assert.equal((await send(api, 'POST', '/stop', {headers: readmeHeaders, body: JSON.stringify({id})})).status, 200)
    await assertNothingStored()
  })
})

describe('quartermaster: etcd out of reach', () => {
  it('answers 503 in its shape, with retry-after, and stores nothing once etcd is back', async () => {
    const etcdDown = await privateEtcd()
    const downStore = new EtcdStore({endpoints: [etcdDown.url], prefix: '/berth'})
    after(() => downStore.close())
    const target = await testApi({store: downStore, deps: quartermasterDeps({kind: 'etcd', endpoints: [etcdDown.url], prefix: '/berth'}, 'berth-', async () => provider)})
    await etcdDown.stop()
    const reply = await send(target, 'POST', '/run', {auth: false, headers: readmeHeaders, body: JSON.stringify({token: target.token, image: 'user/image'})})
    assertRefused(reply, 503)
    assert.equal(reply.headers['retry-after'], '1')
    const status = await send(target, 'GET', `/status/run-0123456789abcdef?token=${target.token}`, {auth: false})
    assertRefused(status, 503)
    await etcdDown.start()
    // A fresh client: the old one pauses the endpoint it saw fail.
    const back = new EtcdStore({endpoints: [etcdDown.url], prefix: '/berth'})
    after(() => back.close())
    assert.deepEqual([...(await back.services()).keys()], [])
    assert.deepEqual(await back.secretNames(), [])
  })
})
