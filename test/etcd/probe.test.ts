/**
 * The CLI leaves a dead etcd member out before etcd3 picks endpoints at random: a real etcd
 * beside a loopback port nothing listens on.
 */
import assert from 'node:assert/strict'
import {createServer} from 'node:net'
import {describe, it} from 'node:test'

import {EtcdCluster} from '../../src/etcd/client.js'
import {answeringEndpoints, tcpProbe} from '../../src/etcd/probe.js'
import {RecordStore} from '../../src/etcd/records.js'
import {done, pollUntil} from '../../src/poll.js'
import {etcdUrl} from '../support/services.js'
import {type TcpProxy, tcpProxy} from '../support/tcp-proxy.js'

/** A loopback URL nothing listens on. */
async function deadUrl(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  await new Promise((resolve) => server.close(resolve))
  return `http://127.0.0.1:${port}`
}

describe('answering etcd endpoints', () => {
  it('keeps the members that accept a connect, in their order, and leaves a dead one out', async () => {
    const dead = await deadUrl()
    assert.deepEqual(await answeringEndpoints([dead, etcdUrl(), dead]), [etcdUrl()])
    assert.deepEqual(await answeringEndpoints([etcdUrl(), dead]), [etcdUrl()])
  })

  it('gives every endpoint back when none answers, so the call fails with etcd\'s own reason', async () => {
    const [a, b] = [await deadUrl(), await deadUrl()]
    assert.deepEqual(await answeringEndpoints([a, b]), [a, b])
  })

  it('says what a connect met', async () => {
    const dead = await deadUrl()
    assert.equal(await tcpProbe(etcdUrl()), undefined)
    assert.match((await tcpProbe(dead))!, /^etcd at 127\.0\.0\.1:\d+ refused the connection$/)
    assert.match((await tcpProbe('not a url'))!, /is not a URL/)
  })

  it('records and the cluster API work through the live member when another is dead, every call', async () => {
    const dead = await deadUrl()
    const store = await RecordStore.connect([dead, etcdUrl()])
    const cluster = await EtcdCluster.connect([dead, etcdUrl()])
    try {
      // Works through the live member on every call. (A refused port fails fast either way: the
      // filter's own effect is the first test's; a silent member, which only a stopped machine
      // gives, is measured by bench/machine-lost.ts.)
      for (let i = 0; i < 10; i++) {
        assert.equal((await store.getAll(`/probe-test-${process.pid}/`)).size, 0)
        assert.ok((await cluster.members()).length >= 1)
      }
      assert.deepEqual(store.endpoints, [dead, etcdUrl()], 'messages still name every endpoint given')
    } finally {
      store.close()
      cluster.close()
    }
  })

  it('with probe: false a client keeps every endpoint, so a member that comes up after the connect is used', async () => {
    // Two ways in to the same etcd: `late` is down at connect time and comes up; `early` goes down.
    const late = new URL(await deadUrl())
    for (const probe of [false, true]) {
      const early = await tcpProxy(etcdUrl())
      const cluster = await EtcdCluster.connect([`http://${late.host}`, early.url], {timeoutMs: 1000, probe})
      let lateProxy: TcpProxy | undefined
      try {
        assert.ok((await cluster.members()).length >= 1, 'works through the early one')
        await early.stop()
        lateProxy = await tcpProxy(etcdUrl(), Number(late.port))
        // As a wait polls: the breaker tries the late endpoint again a second after its failed connect.
        const after = await pollUntil(async () => done(await cluster.members()), {timeoutMs: 4000, intervalMs: 300, retryOn: () => true})
          .then(() => 'answered', (error: Error) => error.message)
        if (probe) assert.notEqual(after, 'answered', 'a probed client kept only the early endpoint, now gone')
        else assert.equal(after, 'answered', 'the client reached etcd through the endpoint that came up')
      } finally {
        cluster.close()
        await lateProxy?.stop()
      }
    }
  })
})
