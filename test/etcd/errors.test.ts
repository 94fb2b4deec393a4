/**
 * One translation of etcd3's failures for every place berth talks to etcd: a dead endpoint
 * reads the same through the cluster API, the records and the agent's store (in words, no
 * gRPC text), and the retry rule follows the library's error classes, against a real etcd.
 */
import assert from 'node:assert/strict'
import {createServer} from 'node:net'
import {describe, it} from 'node:test'

import {EtcdStore} from '../../src/agent/store/store-etcd.js'
import {RetryableError} from '../../src/errors.js'
import {EtcdCluster} from '../../src/etcd/client.js'
import {EtcdCallTimeout, classifyEtcdError, withTimeout} from '../../src/etcd/errors.js'
import {RecordStore} from '../../src/etcd/records.js'
import {etcdUrl} from '../support/services.js'

/** A loopback port nothing listens on. */
async function deadPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  await new Promise((resolve) => server.close(resolve))
  return port
}

const NOISE = /UNAVAILABLE|ECONNREFUSED|Resolution note|No connection established/

describe('etcd errors', () => {
  it('a refused connection reads "etcd at HOST:PORT refused the connection" everywhere, and is retryable', async () => {
    const port = await deadPort()
    const url = `http://127.0.0.1:${port}`
    const refused = `etcd at 127.0.0.1:${port} refused the connection`
    // Each client on its own (breakers are per client); one made afresh when gRPC had not yet
    // finished dialling ("no connection", no socket error to quote yet).
    const clients: [string, () => Promise<{call: () => Promise<unknown>; close: () => unknown}>][] = [
      ['records', async () => {
        const records = await RecordStore.connect([url])
        return {call: () => records.get('/berth/x'), close: () => records.close()}
      }],
      ['store', async () => {
        const store = new EtcdStore({endpoints: [url]})
        return {call: () => store.secretNames(), close: () => store.close()}
      }],
      ['cluster', async () => {
        const cluster = await EtcdCluster.connect([url], {timeoutMs: 1000})
        return {call: () => cluster.members(), close: () => cluster.close()}
      }],
    ]
    for (const [name, open] of clients) {
      let error: Error | undefined
      for (let attempt = 0; attempt < 5 && !error?.message.includes('refused'); attempt++) {
        const client = await open()
        error = await client.call().then(() => assert.fail(`${name}: resolved`), (e: Error) => e)
        await client.close()
      }
      assert.ok(error instanceof RetryableError, `${name}: ${error?.name}: ${error?.message}`)
      assert.ok(error.message.startsWith(`etcd at ${url}: cannot `), error.message)
      assert.ok(error.message.endsWith(`: ${refused}; is etcd running and reachable?`), error.message)
      assert.doesNotMatch(error.message, NOISE)
    }
  })

  it('etcd refusing a promotion for good is not retried (FailedPrecondition that is no learner catching up)', async () => {
    const etcd = await EtcdCluster.connect([etcdUrl()])
    try {
      const [voter] = await etcd.members()
      const started = Date.now()
      await assert.rejects(etcd.promote(voter!.id, 20_000), (error: Error) => !(error instanceof RetryableError) && /cannot promote member \d+: can only promote a learner member$/.test(error.message))
      assert.ok(Date.now() - started < 5000, `gave up after ${Date.now() - started} ms, not at the deadline`)
    } finally {
      etcd.close()
    }
  })

  it('berth\'s own timeout around a call is a retryable "no answer"', async () => {
    const error = await withTimeout(new Promise(() => {}), 20).catch((e: unknown) => e)
    assert.ok(error instanceof EtcdCallTimeout)
    assert.deepEqual(await classifyEtcdError(error, 'etcd at 10.0.0.11:2379'), {unreachable: true, retryable: true, reason: 'no answer from etcd at 10.0.0.11:2379 within 20 ms'})
  })
})
