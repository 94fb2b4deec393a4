import {randomBytes} from 'node:crypto'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {loadavg, tmpdir} from 'node:os'
import path from 'node:path'

import {validateServiceSpec} from '../src/spec/service.js'
import type {DesiredStore} from '../src/agent/store/store.js'
import {EtcdStore} from '../src/agent/store/store-etcd.js'
import {FileStore} from '../src/agent/store/store-file.js'
import {PostgresStore} from '../src/agent/store/store-postgres.js'
import {AUDIT_RETENTION, auditEntry, cliOrigin} from '../src/audit/entry.js'
import {auditFileOf} from '../src/audit/file.js'
import {measure, printTable, type Row} from './timing.js'

/**
 * What the audit trail costs a change: a service PUT into each store without an entry (the
 * floor) and with one, the trail already full (10,000 entries, so every append also trims
 * one), and reading the whole trail. Needs the test services (scripts/services.sh env).
 * Run: `node dist/bench/audit.js [runs]`.
 */

const runs = Number(process.argv[2] ?? 100)
const run = randomBytes(3).toString('hex')
const full = AUDIT_RETENTION.maxEntries
const origin = cliOrigin()

/** `full` entries of the kind a deploy writes, oldest first, a millisecond apart, ending a minute ago. */
function fillers(): string[] {
  const start = Date.now() - 60_000 - full
  return Array.from({length: full}, (_, i) => JSON.stringify(auditEntry({action: 'service.put', target: `svc-${i % 50}`, before: 'a'.repeat(64), after: 'b'.repeat(64)}, origin, new Date(start + i))))
}

interface Backend {
  name: string
  open(): DesiredStore
  fill(lines: string[]): Promise<void>
  cleanup(): Promise<void>
}

function etcd(): Backend {
  const endpoints = [process.env.BERTH_TEST_ETCD ?? 'http://127.0.0.1:23790']
  const prefix = `/berth-bench-audit-${run}`
  const client = async () => new (await import('etcd3')).Etcd3({hosts: endpoints})
  return {
    name: 'etcd',
    open: () => new EtcdStore({endpoints, prefix}),
    async fill(lines) {
      const c = await client()
      for (let i = 0; i < lines.length; i += 100) {
        await Promise.all(lines.slice(i, i + 100).map((l) => c.put(`${prefix}/audit/${(JSON.parse(l) as {id: string}).id}`).value(l).exec()))
      }
      c.close()
    },
    async cleanup() {
      const c = await client()
      await c.delete().prefix(`${prefix}/`).exec()
      c.close()
    },
  }
}

function postgres(): Backend {
  const url = process.env.BERTH_TEST_PG ?? 'postgres://postgres@127.0.0.1:54329/berth_test'
  const schema = `berth_bench_audit_${run}`
  const sql = async (text: string, values?: unknown[]) => {
    const pg = await import('pg')
    const c = new pg.default.Client({connectionString: url})
    await c.connect()
    try {
      await c.query(text, values)
    } finally {
      await c.end()
    }
  }
  return {
    name: 'PostgreSQL',
    open: () => new PostgresStore({url, schema}),
    async fill(lines) {
      await this.open().secretNames() // creates the tables
      await sql(`INSERT INTO "${schema}".audit (id, at, entry) SELECT e->>'id', (e->>'at')::timestamptz, e FROM jsonb_array_elements($1::jsonb) AS e`, [`[${lines.join(',')}]`])
    },
    cleanup: () => sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`),
  }
}

async function file(): Promise<Backend> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-bench-audit-'))
  const store = path.join(dir, 'desired.yaml')
  return {
    name: 'file',
    open: () => new FileStore(store),
    fill: (lines) => writeFile(auditFileOf(store), lines.map((l) => `${l}\n`).join(''), {mode: 0o600}),
    cleanup: () => rm(dir, {recursive: true, force: true}),
  }
}

const spec = await validateServiceSpec({image: 'registry.local/web:1', env: {MODE: 'prod'}, ports: ['8080:80']})
const rows: Row[] = []
for (const backend of [etcd(), postgres(), await file()]) {
  const store = backend.open()
  try {
    await backend.fill(fillers())
    let i = 0
    const floor = await measure(() => store.putService('bench', {...spec, env: {N: i++}}), runs, 5)
    const audited = await measure(() => store.putService('bench', {...spec, env: {N: i++}}, origin), runs, 5)
    const read = await measure(() => store.auditEntries(), 10, 1)
    const ratio = (a: number[], b: number[]) => `${(a[Math.floor(a.length / 2)]! / b[Math.floor(b.length / 2)]!).toFixed(2)}x the floor`
    rows.push({what: `${backend.name}: PUT, no entry (floor)`, samples: floor})
    rows.push({what: `${backend.name}: PUT with its entry, trail full (${full.toLocaleString('en')})`, samples: audited, note: ratio(audited, floor)})
    rows.push({what: `${backend.name}: read the whole trail`, samples: read, note: `${(await store.auditEntries()).length.toLocaleString('en')} entries`})
  } finally {
    await store.close()
    await backend.cleanup()
  }
}
printTable(`Audit trail: the cost of an entry (load average ${loadavg()[0]?.toFixed(2)})`, rows)
