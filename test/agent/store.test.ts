import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import path from 'node:path'
import {after, describe, it} from 'node:test'

import {validateServiceSpec} from '../../src/spec/service.js'
import type {DesiredStore} from '../../src/agent/store/store.js'
import {EtcdStore} from '../../src/agent/store/store-etcd.js'
import {FileStore} from '../../src/agent/store/store-file.js'
import {PostgresStore} from '../../src/agent/store/store-postgres.js'
import {scratch} from '../support/cli.js'
import {callCounter, testService} from './store-support.js'

/**
 * One contract, three stores, each against the real thing: etcd and PostgreSQL as started
 * by scripts/services.sh, the YAML file in a scratch folder. Every run uses its own prefix,
 * schema or folder and removes it afterwards.
 */

const run = randomBytes(4).toString('hex')

interface Backend {
  /** A new store instance over the same data, as another process would open it. */
  open(): DesiredStore
  /** Removes everything the run created. */
  cleanup(): Promise<void>
}

const backends: Record<string, () => Promise<Backend>> = {
  async etcd() {
    const endpoints = [testService('BERTH_TEST_ETCD')]
    const prefix = `/berth-test-${run}`
    return {
      open: () => new EtcdStore({endpoints, prefix}),
      async cleanup() {
        const {Etcd3} = await import('etcd3')
        const client = new Etcd3({hosts: endpoints})
        await client.delete().prefix(`${prefix}/`).exec()
        client.close()
      },
    }
  },
  async postgres() {
    const url = testService('BERTH_TEST_PG')
    const schema = `berth_test_${run}`
    return {
      open: () => new PostgresStore({url, schema}),
      async cleanup() {
        const pg = await import('pg')
        const client = new pg.default.Client({connectionString: url})
        await client.connect()
        await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
        await client.end()
      },
    }
  },
  async file() {
    const file = path.join(await scratch('berth-store-'), 'desired.yaml')
    return {open: () => new FileStore(file), cleanup: async () => undefined}
  },
}

for (const [kind, make] of Object.entries(backends)) {
  describe(`the ${kind} store`, async () => {
    const backend = await make()
    const a = backend.open()
    const b = backend.open()
    after(async () => {
      await a.close()
      await b.close()
      await backend.cleanup()
    })
    const web = await validateServiceSpec({image: 'registry.local/web:1', env: {MODE: 'prod', LIMITS: {cpu: 2}}, secrets: ['DB_PASSWORD']})
    const worker = await validateServiceSpec({image: 'worker:2', roles: ['data'], stopTimeout: 60})

    it('starts empty, then lists what was put, as another instance sees it', async () => {
      assert.deepEqual([...(await a.services()).keys()], [])
      assert.deepEqual(await a.secretNames(), [])
      assert.equal(await a.deleteService('ghost'), false)
      assert.equal(await a.deleteSecret('GHOST'), false)
      await a.putService('worker', worker)
      await a.putService('web', web)
      const seen = await b.services()
      assert.deepEqual(Object.fromEntries(seen), {web, worker})
      assert.deepEqual([...seen.keys()], ['web', 'worker'], 'services come sorted by name')
    })

    it('replaces a service and deletes one, telling whether it was there', async () => {
      const changed = {...web, image: 'registry.local/web:2'}
      await b.putService('web', changed)
      assert.equal((await a.services()).get('web')?.image, 'registry.local/web:2')
      assert.equal(await a.deleteService('worker'), true)
      assert.equal(await a.deleteService('worker'), false)
      assert.deepEqual([...(await b.services()).keys()], ['web'])
    })

    it('stores sealed blobs byte for byte and lists names only', async () => {
      const blob = Buffer.concat([randomBytes(64), Buffer.from([0, 255, 10, 13])])
      await a.putSealedSecret('DB_PASSWORD', blob)
      await a.putSealedSecret('API_KEY', Buffer.from('{"berth":"secret"}'))
      assert.deepEqual(await b.secretNames(), ['API_KEY', 'DB_PASSWORD'])
      assert.deepEqual(await b.sealedSecret('DB_PASSWORD'), blob)
      assert.equal(await b.sealedSecret('MISSING'), undefined)
      assert.equal(await b.deleteSecret('API_KEY'), true)
      assert.equal(await b.deleteSecret('API_KEY'), false)
      assert.deepEqual(await a.secretNames(), ['DB_PASSWORD'])
    })

    it('refuses names that could escape their key or table row', async () => {
      await assert.rejects(a.putService('../etc', web), /not a valid service name/)
      await assert.rejects(a.putSealedSecret('a/b', Buffer.from('x')), /not a valid secret name/)
      assert.deepEqual([...(await a.services()).keys()], ['web'])
    })

    it('reports a change made through another instance within a second, until stopped', async () => {
      const seen = callCounter(1000)
      const stop = await b.watch(seen.fn)
      try {
        const started = Date.now()
        await Promise.all([seen.next(), a.putService('cron', worker)])
        assert.ok(Date.now() - started < 1000)
        await Promise.all([seen.next(), a.deleteService('cron')])
        await Promise.all([seen.next(), a.putSealedSecret('TOKEN', Buffer.from('sealed'))])
      } finally {
        await stop()
      }
      // Stopped: a change now must not reach the old callback. A second watch on the same
      // instance, opened after the stop, hears the change the way the first one would have
      // (etcd's one watch stream per client, PostgreSQL's NOTIFY sent to every listener at
      // commit, a directory watch with the same debounce), so a first watch still live
      // would have heard it by then too.
      const before = seen.count()
      const proof = callCounter(5000)
      const stopProof = await b.watch(proof.fn)
      try {
        await Promise.all([proof.next(), a.putService('late', worker)])
      } finally {
        await stopProof()
      }
      assert.equal(seen.count(), before)
    })
  })
}
