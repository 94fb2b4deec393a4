/**
 * The audit trail over each real store (etcd and PostgreSQL from scripts/services.sh, the
 * file store in a scratch folder), through the real admin API and the real CLI: entries
 * for a PUT, a DELETE and a secret set (whose value is nowhere in the trail or behind it),
 * retention by count and by age, --since and --service, and no entry for a refused request.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {hostname, tmpdir, userInfo} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {setSecret} from '../../src/agent/store/secrets-service.js'
import {specHash} from '../../src/hash.js'
import {validateServiceSpec} from '../../src/spec/service.js'
import type {DesiredStore} from '../../src/agent/store/store.js'
import {EtcdStore} from '../../src/agent/store/store-etcd.js'
import {FileStore} from '../../src/agent/store/store-file.js'
import {PostgresStore} from '../../src/agent/store/store-postgres.js'
import {appendAudit} from '../../src/audit/append.js'
import {auditEntry, cliOrigin, parseSince, type AuditEntry, type AuditRetention} from '../../src/audit/entry.js'
import {auditFileOf} from '../../src/audit/file.js'
import {LocalKeyProvider} from '../../src/secrets/local-key.js'
import {send, sendJsonBody, startTestApi, type TestApi} from '../agent/api-support.js'
import {testService} from '../agent/store-support.js'
import {berth, scratch} from '../support/cli.js'

const run = randomBytes(4).toString('hex')
const claim = {'x-berth-client-host': 'laptop-7', 'x-berth-client-user': 'ops'}

interface Backend {
  open(retention?: AuditRetention): DesiredStore
  /** Every byte the store keeps about the trail, to search for a secret's value. */
  raw(): Promise<string>
  cleanup(): Promise<void>
}

const backends: Record<string, () => Promise<Backend>> = {
  async etcd() {
    const endpoints = [testService('BERTH_TEST_ETCD')]
    const prefix = `/berth-audit-${run}-${randomBytes(2).toString('hex')}`
    const etcd = async <T>(fn: (c: import('etcd3').Etcd3) => Promise<T>): Promise<T> => {
      const {Etcd3} = await import('etcd3')
      const client = new Etcd3({hosts: endpoints})
      try {
        return await fn(client)
      } finally {
        client.close()
      }
    }
    return {
      open: (auditRetention) => new EtcdStore({endpoints, prefix, auditRetention}),
      raw: () => etcd(async (c) => JSON.stringify(await c.getAll().prefix(`${prefix}/audit/`).strings())),
      cleanup: () => etcd(async (c) => void (await c.delete().prefix(`${prefix}/`).exec())),
    }
  },
  async postgres() {
    const url = testService('BERTH_TEST_PG')
    const schema = `berth_audit_${run}_${randomBytes(2).toString('hex')}`
    const sql = async <T>(fn: (c: import('pg').Client) => Promise<T>): Promise<T> => {
      const pg = await import('pg')
      const client = new pg.default.Client({connectionString: url})
      await client.connect()
      try {
        return await fn(client)
      } finally {
        await client.end()
      }
    }
    return {
      open: (auditRetention) => new PostgresStore({url, schema, auditRetention}),
      raw: () => sql(async (c) => JSON.stringify((await c.query(`SELECT * FROM "${schema}".audit`)).rows)),
      cleanup: () => sql(async (c) => void (await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`))),
    }
  },
  async file() {
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-audit-'))
    const file = path.join(dir, 'desired.yaml')
    return {
      open: (auditRetention) => new FileStore(file, {auditRetention}),
      raw: () => readFile(auditFileOf(file), 'utf8').catch(() => ''),
      cleanup: () => rm(dir, {recursive: true, force: true}),
    }
  },
}

for (const [kind, make] of Object.entries(backends)) {
  describe(`the audit trail over the ${kind} store`, () => {
    let backend: Backend
    let store: DesiredStore
    let api: TestApi
    const stores: DesiredStore[] = []
    const open = (retention?: AuditRetention): DesiredStore => {
      const one = backend.open(retention)
      stores.push(one)
      return one
    }
    const connect = (): string[] => ['--url', api.url, '--token-file', path.join(api.dir, 'api-token'), '--ca', path.join(api.dir, 'api.crt')]

    before(async () => {
      backend = await make()
      store = open()
      api = await startTestApi(await mkdtemp(path.join(tmpdir(), 'berth-audit-api-')), {store})
    })
    after(async () => {
      await api.close()
      await rm(api.dir, {recursive: true, force: true})
      for (const one of stores) await one.close()
      await backend.cleanup()
    })

    it('records a PUT with the client address, the CLI\'s claim and the spec hash before and after', async () => {
      const first = await sendJsonBody(api, 'PUT', '/v1/services/web', {image: 'web:1'}, claim)
      assert.equal(first.status, 200, first.text)
      const second = await sendJsonBody(api, 'PUT', '/v1/services/web', {image: 'web:2'}, claim)
      assert.equal(second.status, 200, second.text)
      const [put1, put2, ...rest] = await store.auditEntries()
      assert.equal(rest.length, 0)
      const hash1 = specHash(await validateServiceSpec({image: 'web:1'}))
      const hash2 = specHash(await validateServiceSpec({image: 'web:2'}))
      assert.deepEqual({...put1, id: undefined, at: undefined}, {id: undefined, at: undefined, action: 'service.put', target: 'web', from: {via: 'api', address: '127.0.0.1', claimed: {host: 'laptop-7', user: 'ops'}}, before: null, after: hash1})
      assert.deepEqual([put2!.before, put2!.after], [hash1, hash2])
      assert.ok(put1!.id < put2!.id, 'ids sort by time')
      assert.ok(Math.abs(Date.parse(put2!.at) - Date.now()) < 10_000)
      // The hash is that of the spec as stored, so the trail matches what agents read.
      assert.equal(specHash((await store.services()).get('web')), hash2)
    })

    it('records a DELETE with the hash of what it removed, and nothing for a DELETE of nothing', async () => {
      const before = (await store.auditEntries()).length
      assert.equal((await send(api, 'DELETE', '/v1/services/web')).status, 200)
      assert.equal((await send(api, 'DELETE', '/v1/services/web')).status, 404)
      const entries = await store.auditEntries()
      assert.equal(entries.length, before + 1)
      const last = entries.at(-1)!
      assert.deepEqual([last.action, last.target, last.before, last.after, last.from.address, last.from.claimed], ['service.delete', 'web', entries.at(-2)!.after, null, '127.0.0.1', undefined])
    })

    it('records a secret set by name only: its value is in no entry and nowhere the store keeps the trail', async () => {
      const dir = await scratch('berth-audit-key-')
      const keyFile = path.join(dir, 'master.key')
      await writeFile(keyFile, randomBytes(32), {mode: 0o600})
      const value = `canary-${randomBytes(12).toString('hex')}`
      await setSecret(store, await LocalKeyProvider.fromFile(keyFile), 'DB_PASSWORD', value)
      const entry = (await store.auditEntries()).at(-1)!
      assert.deepEqual([entry.action, entry.target, entry.before, entry.after, entry.from], ['secret.set', 'DB_PASSWORD', null, null, cliOrigin()])
      const blob = (await store.sealedSecret('DB_PASSWORD'))!
      const raw = await backend.raw()
      assert.ok(raw.includes('DB_PASSWORD'), 'the raw trail was read')
      for (const needle of [value, blob.toString('base64'), blob.toString('hex')]) {
        assert.ok(!JSON.stringify(await store.auditEntries()).includes(needle))
        assert.ok(!raw.includes(needle))
      }
      assert.equal(await store.deleteSecret('DB_PASSWORD', cliOrigin()), true)
      assert.equal(await store.deleteSecret('DB_PASSWORD', cliOrigin()), false)
      assert.deepEqual((await store.auditEntries()).slice(-2).map((e) => [e.action, e.target]), [['secret.set', 'DB_PASSWORD'], ['secret.delete', 'DB_PASSWORD']])
    })

    it('a refused request leaves no entry: a bad spec, a wrong token, a bad claim header, a bad name', async () => {
      const before = await store.auditEntries()
      assert.equal((await sendJsonBody(api, 'PUT', '/v1/services/web', {image: 'web:1', colour: 'red'})).status, 400)
      assert.equal((await send(api, 'PUT', '/v1/services/web', {auth: false, body: '{"image":"web:1"}', headers: {'content-type': 'application/json'}})).status, 401)
      assert.equal((await sendJsonBody(api, 'PUT', '/v1/services/web', {image: 'web:1'}, {'x-berth-client-user': 'two words'})).status, 400)
      assert.equal((await sendJsonBody(api, 'PUT', '/v1/services/Bad_Name', {image: 'web:1'})).status, 400)
      assert.deepEqual(await store.auditEntries(), before)
      assert.equal((await store.services()).has('web'), false)
    })

    it('keeps the newest entries up to the count, and drops those past their age, on append', async () => {
      // By age: an entry two days old stays under the default retention, and goes with the
      // next append under a one-day one, while the newer entries stay.
      const old = auditEntry({action: 'machine.add', target: 'ancient'}, cliOrigin(), new Date(Date.now() - 2 * 86_400_000))
      await store.appendAudit(old)
      const withOld = await store.auditEntries()
      assert.equal(withOld[0]!.target, 'ancient', 'the oldest entry comes first')
      await appendAudit(open({maxEntries: 1000, maxAgeMs: 86_400_000}), {action: 'machine.add', target: 'main-9'})
      const aged = await store.auditEntries()
      assert.deepEqual(aged.map((e) => e.id), [...withOld.slice(1).map((e) => e.id), aged.at(-1)!.id])
      assert.ok(!(await backend.raw()).includes('ancient'))
      // By count: the newest three stay.
      const small = open({maxEntries: 3, maxAgeMs: 86_400_000})
      const written: string[] = []
      for (let i = 0; i < 5; i++) written.push((await appendAudit(small, {action: 'machine.upgrade', target: `main-${i}`, detail: {image: 'x:1'}})).id)
      assert.deepEqual((await small.auditEntries()).map((e) => e.id), written.slice(-3))
    })

    it('GET /v1/audit and berth audit --url filter by --since and --service, newest last', async () => {
      const cut = new Date().toISOString()
      for (const [name, image] of [['api', 'api:1'], ['db', 'db:1'], ['api', 'api:2']] as const) {
        assert.equal((await sendJsonBody(api, 'PUT', `/v1/services/${name}`, {image})).status, 200)
      }
      const since = await send(api, 'GET', `/v1/audit?since=${encodeURIComponent(cut)}`)
      assert.deepEqual((since.json.entries as AuditEntry[]).map((e) => e.target), ['api', 'db', 'api'])
      const one = await send(api, 'GET', `/v1/audit?since=${encodeURIComponent(cut)}&service=api`)
      assert.deepEqual((one.json.entries as AuditEntry[]).map((e) => [e.target, e.after !== null]), [['api', true], ['api', true]])
      assert.equal((await send(api, 'GET', '/v1/audit?since=yesterday')).status, 400)
      assert.equal((await send(api, 'GET', '/v1/audit', {auth: false})).status, 401)

      const listed = await berth(['audit', '--since', '1h', '--service', 'api', '--json', ...connect()])
      assert.equal(listed.exitCode, 0, listed.stderr)
      const entries = (JSON.parse(listed.stdout) as {entries: AuditEntry[]}).entries
      assert.deepEqual(entries.map((e) => e.target), ['api', 'api'])
      // Through the CLI's client, the claim is the CLI's own host and user.
      assert.deepEqual(entries[0]!.from.claimed, undefined, 'these PUTs came from the test, without claim headers')
      const table = await berth(['audit', '--since', cut, ...connect()])
      assert.equal(table.exitCode, 0, table.stderr)
      const lines = table.stdout.split('\n')
      assert.match(lines[0]!, /^TIME +ACTION +TARGET +FROM +BEFORE +AFTER$/)
      assert.deepEqual(lines.slice(1).map((l) => l.split(/ {2,}/).slice(1, 4)), [['service.put', 'api', 'api 127.0.0.1'], ['service.put', 'db', 'api 127.0.0.1'], ['service.put', 'api', 'api 127.0.0.1']])
      assert.match(lines[3]!, / [0-9a-f]{12} {2}[0-9a-f]{12}$/, 'the second api PUT shows both hashes')
    })

    it('berth service deploy through the CLI is recorded with the CLI\'s host and user', async () => {
      const file = path.join(api.dir, `deploy-${kind}.yaml`)
      await writeFile(file, 'services:\n  cli-web:\n    image: web:9\n')
      const deployed = await berth(['service', 'deploy', file, ...connect()])
      assert.equal(deployed.exitCode, 0, deployed.stderr)
      const entry = (await store.auditEntries({service: 'cli-web'})).at(-1)!
      assert.deepEqual(entry.from, {via: 'api', address: '127.0.0.1', claimed: {host: hostname(), user: userInfo().username}})
      assert.equal(entry.after, specHash((await store.services()).get('cli-web')))
    })
  })
}

describe('berth audit: bad usage', () => {
  it('a bad --since exits 2 naming the forms that work', async () => {
    const result = await berth(['audit', '--since', 'last tuesday', '--url', 'https://127.0.0.1:1', '--token-file', '/nonexistent'])
    assert.equal(result.exitCode, 2)
    assert.equal(result.stderr, 'berth: --since: "last tuesday" is neither a duration nor a time (write a duration like 90m, 12h or 7d, or a time like 2026-12-01 or 2026-12-01T08:00:00Z)')
  })

  it('parses durations and times, a time without a zone as UTC', () => {
    const now = Date.parse('2026-12-01T12:00:00.000Z')
    assert.equal(parseSince('90m', now), '2026-12-01T10:30:00.000Z')
    assert.equal(parseSince('2d', now), '2026-11-29T12:00:00.000Z')
    assert.equal(parseSince('2026-11-30', now), '2026-11-30T00:00:00.000Z')
    assert.equal(parseSince('2026-11-30T08:15', now), '2026-11-30T08:15:00.000Z')
    assert.equal(parseSince('2026-11-30T08:15:00+02:00', now), '2026-11-30T06:15:00.000Z')
    for (const bad of ['', '5', '5y', '-1h', '2026-13-45', 'now']) assert.throws(() => parseSince(bad, now), /--since/, bad)
  })

  it('reads the trail from cluster.yaml\'s etcd; an unknown --service exits 2 listing the services in the trail', async () => {
    const dir = await scratch('berth-audit-cli-')
    const file = path.join(dir, 'cluster.yaml')
    const port = new URL(testService('BERTH_TEST_ETCD')).port
    await writeFile(file, [`name: audit-${run}`, 'registry: {url: "192.0.2.2:5000"}', 'ssh: {authorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDnBv3nO8Aaq3rLpj6pU6iF3c3s2m2TQmJ2dSeBbf0ds test"]}',
      `etcd: {clientPort: ${port}}`, 'machines:', '  - {name: main-1, ip: 127.0.0.1, role: main}', ''].join('\n'))
    // The cluster's own prefix (/berth) on the shared test etcd: a service name of this run only, removed after.
    const store = new EtcdStore({endpoints: [testService('BERTH_TEST_ETCD')]})
    const name = `audit-${run}`
    after(async () => {
      await store.deleteService(name)
      const {Etcd3} = await import('etcd3')
      const client = new Etcd3({hosts: [testService('BERTH_TEST_ETCD')]})
      for (const entry of await store.auditEntries({service: name})) await client.delete().key(`/berth/audit/${entry.id}`).exec()
      client.close()
      await store.close()
    })
    await store.putService(name, await validateServiceSpec({image: 'x:1'}), cliOrigin())
    const listed = await berth(['audit', '-c', file, '--service', name, '--json'])
    assert.equal(listed.exitCode, 0, listed.stderr)
    const entries = (JSON.parse(listed.stdout) as {entries: AuditEntry[]}).entries
    assert.deepEqual(entries.map((e) => [e.action, e.target, e.from.via, e.before]), [['service.put', name, 'cli', null]])
    const unknown = await berth(['audit', '-c', file, '--service', `nope-${run}`, '--since', '10m'])
    assert.equal(unknown.exitCode, 2)
    assert.match(unknown.stderr, new RegExp(`^berth: --service: no change of service nope-${run} is in the audit trail since .* \\(services in it: .*${name}`))
    const badName = await berth(['audit', '-c', file, '--service', 'Bad_Name'])
    assert.equal(badName.exitCode, 2)
  })

  it('writes the file store\'s trail with mode 0600', async () => {
    const file = path.join(await scratch('berth-audit-mode-'), 'desired.yaml')
    const store = new FileStore(file)
    await store.putService('web', await validateServiceSpec({image: 'web:1'}), cliOrigin())
    assert.equal((await stat(auditFileOf(file))).mode & 0o777, 0o600)
    assert.equal(auditFileOf(file), file.replace(/\.yaml$/, '.audit.jsonl'))
  })
})
