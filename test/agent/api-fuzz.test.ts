import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {after, describe, it} from 'node:test'

import {EtcdStore} from '../../src/agent/store/store-etcd.js'
import {FileStore} from '../../src/agent/store/store-file.js'
import {fuzzSeed} from '../support/api-fuzz.js'
import {etcdStoreView, fileStoreView, runFuzz, storeMismatch, summary, type FuzzStore} from '../support/api-fuzz-run.js'
import {send, sendJsonBody, testApi, type TestApi} from './api-support.js'
import {testService} from './store-support.js'

/**
 * Thousands of hostile requests against the real admin API over the real etcd and file
 * stores. No answer may be 5xx, every 4xx is a JSON error, a refused request changes no
 * byte of the store, and the store holds exactly the valid specs the API accepted.
 * Replay a failure with BERTH_FUZZ_SEED=<seed>; BERTH_FUZZ_REQUESTS and BERTH_FUZZ_SECONDS
 * bound the run (default 4,000 requests or 40 s over both stores, whichever comes first).
 */

const seed = fuzzSeed()
const maxRequests = Number(process.env.BERTH_FUZZ_REQUESTS ?? 4000)
const maxMs = Number(process.env.BERTH_FUZZ_SECONDS ?? 40) * 1000
// The file store's run takes the next seed, so the two stores meet different requests.
console.log(`api fuzz seed ${seed} (replay with BERTH_FUZZ_SEED=${seed})`)

// Recorded rather than left to crash the file, so the test names what escaped.
const escaped: string[] = []
process.on('unhandledRejection', (reason) => escaped.push(`unhandled rejection: ${String(reason)}`))
process.on('uncaughtException', (error) => escaped.push(`uncaught exception: ${error.stack ?? String(error)}`))

// The server runs in this process: a key like __proto__ that reached a plain assignment
// would show up here.
const prototypeKeys = (): string[] => [Object.prototype, Array.prototype].flatMap((p) => Object.getOwnPropertyNames(p)).sort()
const cleanPrototypes = prototypeKeys()

async function fuzzOver(api: TestApi, store: FuzzStore, seed: number, share: number): Promise<void> {
  const run = await runFuzz({url: api.url, ca: api.ca, token: api.token, store}, {seed, maxRequests: Math.ceil(maxRequests * share), maxMs: maxMs * share})
  console.log(summary(run))
  assert.equal(run.problems.length, 0, `the fuzz broke the API's rules:\n${run.problems.join('\n')}`)
  assert.ok(run.tried >= 200, `only ${run.tried} requests in the time given`)
  assert.ok(run.classes['2xx'] > 0 && run.classes['4xx'] > 0, 'the fuzz made both accepted and refused requests')
  assert.equal(await storeMismatch(store, run.expected), undefined)
  const fiveHundreds = api.logs.filter((line) => / 5\d\d [\d.]+ ms/.test(line))
  assert.deepEqual(fiveHundreds, [])

  // Still serving, and still accepting a good change.
  assert.equal((await send(api, 'GET', '/v1/health', {auth: false})).status, 200)
  const put = await sendJsonBody(api, 'PUT', '/v1/services/after-fuzz', {image: 'web:1', env: {SEED: seed}})
  assert.equal(put.status, 200, put.text)
  assert.deepEqual((await store.raw()).get('after-fuzz'), put.json.spec)
  assert.deepEqual(escaped, [])
  assert.deepEqual(prototypeKeys(), cleanPrototypes)
}

describe('admin API fuzz', () => {
  it('over the etcd store: only 2xx and JSON 4xx, nothing half stored', async () => {
    const endpoints = [testService('BERTH_TEST_ETCD')]
    const prefix = `/berth-fuzz-${randomBytes(4).toString('hex')}`
    const {Etcd3} = await import('etcd3')
    const client = new Etcd3({hosts: endpoints})
    const store = new EtcdStore({endpoints, prefix})
    after(async () => {
      await client.delete().prefix(`${prefix}/`).exec()
      client.close()
      await store.close()
    })
    await fuzzOver(await testApi({store}), etcdStoreView(client, prefix), seed, 0.5)
  })

  it('over the file store: only 2xx and JSON 4xx, nothing half stored', async () => {
    const api = await testApi()
    assert.ok(api.store instanceof FileStore)
    await fuzzOver(api, fileStoreView(api.storeFile), (seed + 1) >>> 0, 0.5)
  })
})
