import assert from 'node:assert/strict'
import {readFile, stat} from 'node:fs/promises'
import {Agent} from 'node:https'
import {describe, it} from 'node:test'

import {nestingPastLimit} from '../../src/agent/api/http.js'
import {startApi} from '../../src/agent/api/server.js'
import type {DesiredStore} from '../../src/agent/store/store.js'
import {RetryableError, UsageError} from '../../src/errors.js'
import {send, sendJsonBody, testApi, testStatus, tokenFile, type TestApi} from './api-support.js'

const api = await testApi()

/** Nothing was written: the store file does not even exist, and the store lists nothing. */
async function assertNothingStored(target: TestApi = api): Promise<void> {
  assert.deepEqual([...(await target.store.services()).keys()], [])
}

function assertJsonError(reply: {status: number; headers: Record<string, unknown>; json: {error?: {code: string; message: string}}}, status: number, code: string): void {
  assert.equal(reply.status, status)
  assert.match(String(reply.headers['content-type']), /^application\/json/)
  assert.equal(reply.json.error?.code, code)
  assert.equal(typeof reply.json.error?.message, 'string')
}

describe('admin API: authentication', () => {
  it('answers health without a token', async () => {
    const reply = await send(api, 'GET', '/v1/health', {auth: false})
    assert.equal(reply.status, 200)
    assert.deepEqual(reply.json, {status: 'ok'})
  })

  it('refuses every other endpoint without a token, with a wrong one, or with another scheme', async () => {
    const attempts: Array<Record<string, string>> = [
      {},
      {authorization: `Bearer ${api.token.slice(0, -1)}x`},
      {authorization: 'Bearer short'},
      {authorization: `Basic ${Buffer.from(`x:${api.token}`).toString('base64')}`},
      {authorization: `Bearer ${api.token} extra`},
    ]
    for (const headers of attempts) {
      for (const [method, path] of [['GET', '/v1/services'], ['GET', '/v1/status'], ['POST', '/v1/sync'], ['DELETE', '/v1/services/web'], ['GET', '/v1/nothing']]) {
        const reply = await send(api, method as string, path as string, {auth: false, headers})
        assertJsonError(reply, 401, 'unauthorized')
        assert.equal(reply.headers['www-authenticate'], 'Bearer realm="berth"')
      }
    }
    const put = await send(api, 'PUT', '/v1/services/web', {auth: false, body: '{"image": "web:1"}', headers: {'content-type': 'application/json'}})
    assertJsonError(put, 401, 'unauthorized')
    await assertNothingStored()
    assert.equal(api.syncs, 0)
  })

  it('accepts the right token', async () => {
    const reply = await send(api, 'GET', '/v1/services')
    assert.equal(reply.status, 200)
    assert.deepEqual(reply.json, {services: []})
  })
})

describe('admin API: CORS', () => {
  it('gives an allowed origin its CORS header and a disallowed one none', async () => {
    const allowed = await send(api, 'GET', '/v1/services', {headers: {origin: 'https://admin.example.com'}})
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://admin.example.com')
    assert.equal(allowed.headers.vary, 'Origin')
    const other = await send(api, 'GET', '/v1/services', {headers: {origin: 'https://evil.example.com'}})
    assert.equal(other.headers['access-control-allow-origin'], undefined)
    assert.equal(Object.keys(other.headers).filter((h) => h.startsWith('access-control-')).length, 0)
  })

  it('answers a preflight from an allowed origin without a token, and refuses others', async () => {
    const preflight = {'access-control-request-method': 'PUT', 'access-control-request-headers': 'authorization, content-type'}
    const ok = await send(api, 'OPTIONS', '/v1/services/web', {auth: false, headers: {origin: 'https://admin.example.com', ...preflight}})
    assert.equal(ok.status, 204)
    assert.equal(ok.headers['access-control-allow-origin'], 'https://admin.example.com')
    assert.equal(ok.headers['access-control-allow-methods'], 'GET, PUT, DELETE, POST, OPTIONS')
    assert.equal(ok.headers['access-control-allow-headers'], 'Authorization, Content-Type')
    const refused = await send(api, 'OPTIONS', '/v1/services/web', {auth: false, headers: {origin: 'https://evil.example.com', ...preflight}})
    assertJsonError(refused, 403, 'origin_not_allowed')
    assert.equal(Object.keys(refused.headers).filter((h) => h.startsWith('access-control-')).length, 0)
  })
})

describe('admin API: bad input stores nothing', () => {
  it('413 for a body over 1 MiB, declared or streamed', async () => {
    const big = JSON.stringify({image: 'web:1', env: {X: 'a'.repeat(1024 * 1024)}})
    assertJsonError(await sendJsonBody(api, 'PUT', '/v1/services/web', JSON.parse(big)), 413, 'body_too_large')
    const chunked = await send(api, 'PUT', '/v1/services/web', {body: big, headers: {'content-type': 'application/json', 'transfer-encoding': 'chunked'}})
    assertJsonError(chunked, 413, 'body_too_large')
    await assertNothingStored()
  })

  it('a streamed body refused with 413 leaves its kept-alive connection usable for the next request', async () => {
    // One socket, reused: a refusal that dropped the connection would reset the second request.
    const agent = new Agent({keepAlive: true, maxSockets: 1, ca: api.ca})
    const sockets = new Set<unknown>()
    agent.on('free', (socket) => sockets.add(socket))
    try {
      const big = JSON.stringify({image: 'web:1', env: {X: 'a'.repeat(1536 * 1024)}})
      const refused = await send(api, 'PUT', '/v1/services/web', {agent, body: big, headers: {'content-type': 'application/json', 'transfer-encoding': 'chunked'}})
      assertJsonError(refused, 413, 'body_too_large')
      assert.equal(refused.headers.connection, 'keep-alive')
      const next = await send(api, 'GET', '/v1/services', {agent})
      assert.equal(next.status, 200, next.text)
      assert.equal(sockets.size, 1, 'both requests went over one connection')
    } finally {
      agent.destroy()
    }
    await assertNothingStored()
  })

  it('415 for a body that is not declared JSON', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', undefined]) {
      const headers: Record<string, string> = type ? {'content-type': type} : {}
      assertJsonError(await send(api, 'PUT', '/v1/services/web', {body: '{"image": "web:1"}', headers}), 415, 'unsupported_media_type')
    }
    await assertNothingStored()
  })

  it('400 for malformed JSON, without quoting the body', async () => {
    const reply = await send(api, 'PUT', '/v1/services/web', {body: '{"image": "web:1", "env": {"PASSWORD": "hunter2"', headers: {'content-type': 'application/json'}})
    assertJsonError(reply, 400, 'malformed_json')
    assert.ok(!reply.text.includes('hunter2'))
    await assertNothingStored()
  })

  it('400 naming the limit for a body nested past 64 levels, however deep, and for env values past 32', async () => {
    for (const levels of [65, 1000, 100_000]) {
      const body = `{"image":"web:1","env":{"X":${'['.repeat(levels)}${']'.repeat(levels)}}}`
      const reply = await send(api, 'PUT', '/v1/services/web', {body, headers: {'content-type': 'application/json'}})
      assertJsonError(reply, 400, 'too_deep')
      assert.match(reply.json.error?.message ?? '', /nests deeper than 64 levels/)
    }
    // Within the body's limit, the spec's own: env values nest at most 32 levels, and hold
    // only numbers that JSON (and so the etcd and PostgreSQL stores) can carry.
    for (const [value, message] of [[`${'['.repeat(40)}${']'.repeat(40)}`, 'nests deeper than 32 levels of arrays and objects'], ['1e400', 'holds a number JSON cannot represent']]) {
      const reply = await send(api, 'PUT', '/v1/services/web', {body: `{"image":"web:1","env":{"X":${value}}}`, headers: {'content-type': 'application/json'}})
      assertJsonError(reply, 400, 'invalid_spec')
      assert.deepEqual(reply.json.error?.problems?.map((p) => `${p.path}: ${p.message}`), [`env/X: ${message}`])
    }
    // Brackets inside strings are text, not nesting, escaped quotes included.
    assert.equal(nestingPastLimit(JSON.stringify({X: `\\"${'['.repeat(1000)}`}), 64), false)
    assert.equal(nestingPastLimit(`${'['.repeat(64)}${']'.repeat(64)}`, 64), false)
    assert.equal(nestingPastLimit(`${'['.repeat(65)}${']'.repeat(65)}`, 64), true)
    assert.ok(api.logs.every((line) => !/ 5\d\d /.test(line)), api.logs.join('\n'))
    await assertNothingStored()
  })

  it('a JSON error for requests the HTTP parser refuses: huge headers, unknown methods', async () => {
    const huge = await send(api, 'GET', '/v1/services', {headers: {'x-filler': 'y'.repeat(20_000)}})
    assertJsonError(huge, 431, 'headers_too_large')
    assertJsonError(await send(api, 'FOO', '/v1/services'), 400, 'malformed_request')
    await assertNothingStored()
  })

  it('400 listing every problem for unknown fields and bad values', async () => {
    const reply = await sendJsonBody(api, 'PUT', '/v1/services/web', {image: 'web:1', colour: 'red', size: 3, restart: 'sometimes'})
    assertJsonError(reply, 400, 'invalid_spec')
    assert.deepEqual(reply.json.error?.problems?.map((p) => `${p.path}: ${p.message}`), ['colour: unknown key', 'size: unknown key', 'restart: "sometimes" is not allowed'])
    await assertNothingStored()
  })

  it('400 for a bad service name in every method', async () => {
    for (const name of ['Web', '..', '%2e%2e', 'a_b', '-web', 'web%0aExecStart=evil', 'a'.repeat(64)]) {
      assertJsonError(await sendJsonBody(api, 'PUT', `/v1/services/${name}`, {image: 'web:1'}), 400, 'bad_name')
      assertJsonError(await send(api, 'GET', `/v1/services/${name}`), 400, 'bad_name')
      assertJsonError(await send(api, 'DELETE', `/v1/services/${name}`), 400, 'bad_name')
    }
    await assertNothingStored()
    assert.equal(api.syncs, 0)
  })

  it('404 for unknown endpoints and services, 405 for a wrong method', async () => {
    assertJsonError(await send(api, 'GET', '/v1/services/ghost'), 404, 'not_found')
    assertJsonError(await send(api, 'DELETE', '/v1/services/ghost'), 404, 'not_found')
    assertJsonError(await send(api, 'GET', '/v2/services'), 404, 'not_found')
    const wrong = await send(api, 'POST', '/v1/services')
    assertJsonError(wrong, 405, 'method_not_allowed')
    assert.equal(wrong.headers.allow, 'GET')
    await assertNothingStored()
  })
})

describe('admin API: services, status and sync', () => {
  it('puts, lists, shows with observed state, and deletes a service, asking for a sync each time', async () => {
    const syncs = api.syncs
    const put = await sendJsonBody(api, 'PUT', '/v1/services/web', {image: 'web:1', ports: ['8080:80']})
    assert.equal(put.status, 200)
    assert.deepEqual(put.json, {name: 'web', spec: {image: 'web:1', ports: ['8080:80'], stopTimeout: 10, restart: 'always', roles: ['main', 'worker']}})
    assert.equal((await api.store.services()).get('web')?.image, 'web:1')
    assert.deepEqual((await send(api, 'GET', '/v1/services')).json, {services: [{name: 'web', spec: put.json.spec}]})

    assert.equal((await send(api, 'GET', '/v1/services/web')).json.observed, null)
    api.observed.set('web', {unit: 'berth-web.service', activeState: 'active', containerId: 'c0ffee', image: 'web:1'})
    assert.deepEqual((await send(api, 'GET', '/v1/services/web')).json, {name: 'web', spec: put.json.spec, observed: {unit: 'berth-web.service', activeState: 'active', containerId: 'c0ffee', image: 'web:1'}})

    assert.deepEqual((await send(api, 'DELETE', '/v1/services/web')).json, {deleted: 'web'})
    await assertNothingStored()
    assert.equal(api.syncs, syncs + 2)
  })

  it('returns the status and accepts a sync request', async () => {
    assert.deepEqual((await send(api, 'GET', '/v1/status')).json, testStatus)
    const syncs = api.syncs
    const reply = await send(api, 'POST', '/v1/sync')
    assert.equal(reply.status, 202)
    assert.equal(api.syncs, syncs + 1)
  })

  it('answers 503 when the store is down, and 500 without details for an unexpected error', async () => {
    const failing = (error: Error): DesiredStore => new Proxy({} as DesiredStore, {get: () => async () => { throw error }})
    const down = await testApi({store: failing(new RetryableError('etcd http://127.0.0.1:1: unavailable'))})
    assertJsonError(await send(down, 'GET', '/v1/services'), 503, 'unavailable')
    const broken = await testApi({store: failing(new TypeError('secret internals /root/x'))})
    const reply = await send(broken, 'GET', '/v1/services')
    assertJsonError(reply, 500, 'internal')
    assert.ok(!reply.text.includes('internals'))
  })

  it('never writes the token into its log or an answer', async () => {
    await send(api, 'GET', `/v1/services?token=${api.token}`)
    assert.ok(api.logs.length > 10)
    assert.ok(api.logs.every((line) => !line.includes(api.token)), api.logs.join('\n'))
    assert.match(api.logs[0] as string, /^GET \/v1\/health 200 [\d.]+ ms$/)
  })
})

describe('admin API: listening', () => {
  it('serves plain HTTP on loopback when asked, and refuses it elsewhere', async () => {
    const dir = api.dir
    const options = {tokenFile: await tokenFile(dir, api.token), allowedOrigins: [], insecureHttp: true}
    const plain = await startApi({store: api.store, observe: async () => undefined, status: () => testStatus, requestSync: () => undefined, options: {...options, listen: '127.0.0.1:0'}})
    try {
      assert.match(plain.url, /^http:\/\/127\.0\.0\.1:\d+$/)
      assert.equal((await fetch(`${plain.url}/v1/health`)).status, 200)
    } finally {
      await plain.close()
    }
    await assert.rejects(startApi({store: api.store, observe: async () => undefined, status: () => testStatus, requestSync: () => undefined, options: {...options, listen: '0.0.0.0:0'}}), UsageError)
  })

  it('refuses a token file others can read', async () => {
    const file = await tokenFile(api.dir, api.token)
    const {chmod} = await import('node:fs/promises')
    await chmod(file, 0o644)
    await assert.rejects(startApi({store: api.store, observe: async () => undefined, status: () => testStatus, requestSync: () => undefined, options: {listen: '127.0.0.1:0', tokenFile: file, allowedOrigins: [], insecureHttp: true}}), /lets others read the admin token/)
    assert.equal((await stat(file)).mode & 0o777, 0o644)
    assert.ok((await readFile(file, 'utf8')).includes(api.token))
  })
})
