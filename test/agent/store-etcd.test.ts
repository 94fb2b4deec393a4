import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {after, describe, it} from 'node:test'
import type {Etcd3} from 'etcd3'

import {validateServiceSpec} from '../../src/spec/service.js'
import {EtcdStore} from '../../src/agent/store/store-etcd.js'
import {RetryableError, UsageError} from '../../src/errors.js'
import {callCounter, freePort, privateEtcd, sleep, testService} from './store-support.js'

const endpoints = [testService('BERTH_TEST_ETCD')]
const prefix = `/berth-test-${randomBytes(4).toString('hex')}`
let raw: Etcd3 | undefined

async function rawClient(): Promise<Etcd3> {
  const {Etcd3} = await import('etcd3')
  raw ??= new Etcd3({hosts: endpoints})
  return raw
}

after(async () => {
  await raw?.delete().prefix(`${prefix}/`).exec()
  raw?.close()
})

describe('the etcd store', () => {
  it('keeps specs as JSON and sealed blobs as raw bytes under the prefix', async () => {
    const store = new EtcdStore({endpoints, prefix})
    const spec = await validateServiceSpec({image: 'web:1'})
    await store.putService('web', spec)
    await store.putSealedSecret('KEY', Buffer.from([0, 1, 254, 255]))
    const client = await rawClient()
    assert.deepEqual(JSON.parse((await client.get(`${prefix}/services/web`).string()) as string), spec)
    assert.deepEqual(await client.get(`${prefix}/secrets/KEY`).buffer(), Buffer.from([0, 1, 254, 255]))
    await store.close()
  })

  it('fails a read naming the key of a value that is not a valid spec', async () => {
    const client = await rawClient()
    await client.put(`${prefix}/services/broken`).value('{"image": ')
    await client.put(`${prefix}/services/odd`).value('{"image": "x", "colour": 1}')
    const store = new EtcdStore({endpoints, prefix})
    await assert.rejects(store.services(), (error: Error) => {
      assert.ok(error instanceof UsageError)
      assert.deepEqual(error.problems.map((p) => `${p.file}: ${p.path ?? ''}: ${p.message}`.replace(/: is not JSON.*/, ': is not JSON')), [
        `etcd ${prefix}/services/broken: : is not JSON`,
        `etcd ${prefix}/services/odd: colour: unknown key`,
      ])
      return true
    })
    await client.delete().prefix(`${prefix}/services/`).exec()
    await store.close()
  })

  it('reports an unreachable etcd as retryable', async () => {
    const store = new EtcdStore({endpoints: [`http://127.0.0.1:${await freePort()}`], prefix})
    await assert.rejects(store.secretNames(), (error: Error) => error instanceof RetryableError && /is etcd running and reachable\?$/.test(error.message))
    await store.close()
  })

  it('holds a replicated spec\'s wake back for the assignments the leader writes after it, and drops it when they come first', async () => {
    const watching = new EtcdStore({endpoints, prefix})
    const writer = new EtcdStore({endpoints, prefix})
    const heldMs = 400
    const seen = callCounter(5000)
    const stop = await watching.watch(seen.fn, {heldMs})
    try {
      // A global service's spec wakes at once.
      let started = Date.now()
      await Promise.all([seen.next(), writer.putService('global-web', await validateServiceSpec({image: 'web:1'}))])
      assert.ok(Date.now() - started < heldMs, `a global spec woke after ${Date.now() - started} ms`)
      // A replicated one alone wakes, but only once the hold is over.
      started = Date.now()
      await Promise.all([seen.next(), writer.putService('rep', await validateServiceSpec({image: 'web:1', replicas: 2}))])
      assert.ok(Date.now() - started >= heldMs, `a replicated spec woke after ${Date.now() - started} ms, before its hold of ${heldMs} ms`)
      // With its assignment right after: one wake, at once, and none when the hold would have ended.
      const before = seen.count()
      started = Date.now()
      const woken = seen.next()
      await writer.putService('rep', await validateServiceSpec({image: 'web:2', replicas: 2}))
      await (await rawClient()).put(`${prefix}/assignments/rep.1`).value(JSON.stringify({machine: 'main-1', specHash: 'x'}))
      await woken
      assert.ok(Date.now() - started < heldMs, `the assignment woke after ${Date.now() - started} ms`)
      await sleep(heldMs + 300)
      assert.equal(seen.count(), before + 1, 'the held wake was dropped: the assignment\'s pass reads the spec too')
    } finally {
      await stop()
      await watching.close()
      await writer.close()
    }
  })

  it('keeps watching across an etcd restart and reports the gap as a change', async () => {
    const etcd = await privateEtcd()
    const watching = new EtcdStore({endpoints: [etcd.url]})
    const writer = new EtcdStore({endpoints: [etcd.url]})
    const spec = await validateServiceSpec({image: 'web:1'})
    const seen = callCounter(5000)
    const stop = await watching.watch(seen.fn)
    try {
      await Promise.all([seen.next(), writer.putService('web', spec)])
      // The reconnect itself is reported: a change made while the stream was down is not lost.
      const reconnected = seen.next()
      await etcd.stop()
      await sleep(300)
      await etcd.start()
      await reconnected
      const started = Date.now()
      await Promise.all([seen.next(), writer.putService('api', spec)])
      assert.ok(Date.now() - started < 1000, `a change after the restart took ${Date.now() - started} ms`)
    } finally {
      await stop()
      await watching.close()
      await writer.close()
    }
  })
})
