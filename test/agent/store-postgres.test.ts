import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {after, before, describe, it} from 'node:test'
import type {Client} from 'pg'

import {validateServiceSpec} from '../../src/spec/service.js'
import {PostgresStore} from '../../src/agent/store/store-postgres.js'
import {RetryableError, UsageError} from '../../src/errors.js'
import {callCounter, testService} from './store-support.js'

const url = testService('BERTH_TEST_PG')
const schemas: string[] = []
let sql: Client

/** A store in a schema of its own, dropped when the file ends. */
function freshStore(): {store: PostgresStore; schema: string} {
  const schema = `berth_test_${randomBytes(4).toString('hex')}`
  schemas.push(schema)
  return {store: new PostgresStore({url, schema}), schema}
}

before(async () => {
  const pg = await import('pg')
  sql = new pg.default.Client({connectionString: url})
  await sql.connect()
})
after(async () => {
  for (const schema of schemas) await sql.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  await sql.end()
})

describe('the PostgreSQL store', () => {
  it("creates its tables on first use, secrets with the seed's exact columns", async () => {
    const {store, schema} = freshStore()
    assert.deepEqual(await store.secretNames(), [])
    const columns = await sql.query(`SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns
      WHERE table_schema = $1 ORDER BY table_name, ordinal_position`, [schema])
    assert.deepEqual(columns.rows.map((r) => `${r.table_name}.${r.column_name} ${r.data_type} ${r.is_nullable}`), [
      'audit.id text NO', 'audit.at timestamp with time zone NO', 'audit.entry jsonb NO',
      'secrets.key text NO', 'secrets.ciphertext bytea NO',
      'services.name text NO', 'services.spec jsonb NO', 'services.updated_at timestamp with time zone NO',
    ])
    await store.close()
  })

  it('adopts a secrets table made by the seed, without a unique key', async () => {
    const {store, schema} = freshStore()
    await sql.query(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".secrets (key TEXT NOT NULL, ciphertext bytea NOT NULL);
      INSERT INTO "${schema}".secrets VALUES ('OLD', 'x')`)
    await store.putSealedSecret('OLD', Buffer.from('new'))
    assert.deepEqual(await store.sealedSecret('OLD'), Buffer.from('new'))
    assert.equal((await sql.query(`SELECT count(*)::int AS n FROM "${schema}".secrets`)).rows[0].n, 1)
    await store.close()
  })

  it('wakes a watcher when another process writes with plain SQL (the trigger notifies)', async () => {
    const {store, schema} = freshStore()
    const seen = callCounter(1000)
    const stop = await store.watch(seen.fn)
    try {
      await Promise.all([seen.next(), sql.query(`INSERT INTO "${schema}".services (name, spec) VALUES ('web', '{"image": "web:1"}')`)])
      assert.equal((await store.services()).get('web')?.image, 'web:1')
      await Promise.all([seen.next(), sql.query(`DELETE FROM "${schema}".secrets`)])
    } finally {
      await stop()
      await store.close()
    }
  })

  it('listens again after its connection is killed, reporting the gap as a change', async () => {
    const {store, schema} = freshStore()
    const seen = callCounter(3000)
    const stop = await store.watch(seen.fn)
    try {
      const reconnected = seen.next()
      const killed = await sql.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1`, [`LISTEN berth_desired_${schema}`])
      assert.equal(killed.rowCount, 1)
      await reconnected
      await Promise.all([seen.next(), sql.query(`INSERT INTO "${schema}".secrets VALUES ('K', 'x')`)])
    } finally {
      await stop()
      await store.close()
    }
  })

  it('reports a bad row naming it, and stores nothing for a bad name', async () => {
    const {store, schema} = freshStore()
    await store.putService('web', await validateServiceSpec({image: 'web:1'}))
    await sql.query(`INSERT INTO "${schema}".services (name, spec) VALUES ('api', '{"image": "api:1", "colour": "red"}')`)
    await assert.rejects(store.services(), (error: Error) => error instanceof UsageError && /PostgreSQL services\/api: colour: unknown key/.test(error.message))
    await assert.rejects(store.putService('no/slash', await validateServiceSpec({image: 'x'})), UsageError)
    assert.equal((await sql.query(`SELECT count(*)::int AS n FROM "${schema}".services`)).rows[0].n, 2)
    await store.close()
  })

  it('reports an unreachable server as retryable, without the password', async () => {
    const store = new PostgresStore({url: 'postgres://berth:hunter2-secret@127.0.0.1:1/none'})
    await assert.rejects(store.services(), (error: Error) => {
      assert.ok(error instanceof RetryableError, String(error))
      assert.match(error.message, /^PostgreSQL 127\.0\.0\.1:1\/none: .*; is PostgreSQL running and reachable\?$/)
      assert.ok(!error.message.includes('hunter2'))
      return true
    })
    await store.close()
  })
})
