import type {Client, Pool} from 'pg'

import {AUDIT_RETENTION, auditEntry, byId, expiredBefore, matchesQuery, trimSlack, type AuditChange, type AuditEntry, type AuditOrigin, type AuditQuery, type AuditRetention} from '../../audit/entry.js'
import {BerthError, RetryableError, UsageError} from '../../errors.js'
import {specHash} from '../../hash.js'
import {validateSecretName} from './secret-name.js'
import {validateServiceName, validateStoredServices, type ServiceSpec} from '../../spec/service.js'
import type {DesiredStore} from './store.js'
import {setupSql} from './store-postgres-sql.js'

/** Where the tables live; `schema` lets several installations (or test runs) share a database. */
export interface PostgresStoreOptions {
  url: string
  schema?: string
  /** How much of the audit trail to keep (default AUDIT_RETENTION). */
  auditRetention?: AuditRetention
}

/** One statement inside a transaction. */
type Query = <R extends object = object>(sql: string, values?: unknown[]) => Promise<{rows: R[]; rowCount: number | null}>

/**
 * Desired state in PostgreSQL, the az-coordinator's single-host mode. The store creates its
 * tables on first use; a statement trigger NOTIFYs on every write, so a change made by any
 * process (another agent, psql) wakes every watcher. pg is loaded on first use.
 */
export class PostgresStore implements DesiredStore {
  readonly #url: string
  readonly #schema: string
  readonly #retention: AuditRetention
  #pool: Promise<Pool> | undefined

  constructor(options: PostgresStoreOptions) {
    this.#url = options.url
    this.#schema = options.schema ?? 'public'
    this.#retention = options.auditRetention ?? AUDIT_RETENTION
    if (!/^[a-z_][a-z0-9_]{0,40}$/.test(this.#schema)) throw new UsageError(`PostgreSQL schema ${JSON.stringify(this.#schema)} must be lower-case letters, digits and _`)
  }

  /** Every service row, validated; a bad one fails the read, naming its row. */
  async services(): Promise<Map<string, ServiceSpec>> {
    const {rows} = await this.#query<{name: string; spec: unknown}>(`SELECT name, spec FROM ${this.#t('services')} ORDER BY name`)
    return validateStoredServices(rows.map((row) => ({name: row.name, where: {file: `PostgreSQL services/${row.name}`}, read: () => row.spec})))
  }

  /** Inserts or replaces a service row; with an origin, its audit entry in the same transaction. */
  async putService(name: string, spec: ServiceSpec, origin?: AuditOrigin): Promise<void> {
    validateServiceName(name)
    const upsert = `INSERT INTO ${this.#t('services')} (name, spec) VALUES ($1, $2)
      ON CONFLICT (name) DO UPDATE SET spec = EXCLUDED.spec, updated_at = now()`
    if (!origin) return void (await this.#query(upsert, [name, JSON.stringify(spec)]))
    await this.#audited(origin, `service ${name}`, async (q) => {
      const before = (await q<{spec: unknown}>(`SELECT spec FROM ${this.#t('services')} WHERE name = $1 FOR UPDATE`, [name])).rows[0]
      await q(upsert, [name, JSON.stringify(spec)])
      return {action: 'service.put', target: name, before: before ? specHash(before.spec) : null, after: specHash(spec)}
    })
  }

  /** Deletes a service row; false when there was none. */
  async deleteService(name: string, origin?: AuditOrigin): Promise<boolean> {
    const sql = `DELETE FROM ${this.#t('services')} WHERE name = $1 RETURNING spec`
    if (!origin) return ((await this.#query(sql, [name])).rowCount ?? 0) > 0
    return this.#audited(origin, `service ${name}`, async (q) => {
      const gone = (await q<{spec: unknown}>(sql, [name])).rows[0]
      return gone && {action: 'service.delete', target: name, before: specHash(gone.spec), after: null}
    })
  }

  /** Keys of the secrets table. */
  async secretNames(): Promise<string[]> {
    return (await this.#query<{key: string}>(`SELECT key FROM ${this.#t('secrets')} ORDER BY key`)).rows.map((r) => r.key)
  }

  /** The ciphertext of a secret, or undefined. */
  async sealedSecret(name: string): Promise<Buffer | undefined> {
    return (await this.#query<{ciphertext: Buffer}>(`SELECT ciphertext FROM ${this.#t('secrets')} WHERE key = $1`, [name])).rows[0]?.ciphertext
  }

  /** Inserts or replaces a secret's ciphertext; the audit entry names it only. */
  async putSealedSecret(name: string, blob: Buffer, origin?: AuditOrigin): Promise<void> {
    validateSecretName(name)
    const upsert = `INSERT INTO ${this.#t('secrets')} (key, ciphertext) VALUES ($1, $2)
      ON CONFLICT (key) DO UPDATE SET ciphertext = EXCLUDED.ciphertext`
    if (!origin) return void (await this.#query(upsert, [name, blob]))
    await this.#audited(origin, `secret ${name}`, async (q) => {
      await q(upsert, [name, blob])
      return {action: 'secret.set', target: name}
    })
  }

  /** Deletes a secret; false when there was none. */
  async deleteSecret(name: string, origin?: AuditOrigin): Promise<boolean> {
    const sql = `DELETE FROM ${this.#t('secrets')} WHERE key = $1`
    if (!origin) return ((await this.#query(sql, [name])).rowCount ?? 0) > 0
    return this.#audited(origin, `secret ${name}`, async (q) => ((await q(sql, [name])).rowCount ?? 0) > 0 && {action: 'secret.delete', target: name})
  }

  /** Appends an entry for a change made elsewhere. */
  async appendAudit(entry: AuditEntry): Promise<void> {
    await this.#transaction((q) => this.#insertAudit(q, entry))
  }

  /** The audit trail from `since` on, oldest first. */
  async auditEntries(query: AuditQuery = {}): Promise<AuditEntry[]> {
    const {rows} = await this.#query<{entry: AuditEntry}>(`SELECT entry FROM ${this.#t('audit')} WHERE id >= $1 ORDER BY id`, [query.since ?? ''])
    return rows.map((r) => r.entry).filter((e) => matchesQuery(e, query)).sort(byId)
  }

  /**
   * LISTENs on a connection of its own. When that connection drops it reconnects (0.25-2 s
   * apart) and reports a change, since NOTIFYs sent meanwhile are lost.
   */
  async watch(onChange: () => void): Promise<() => Promise<void>> {
    await this.#ready()
    const pg = await import('pg')
    let stopped = false
    let client: Client | undefined
    let delay = 250
    const schedule = (): void => {
      if (stopped) return
      setTimeout(() => void reconnect(), delay)
      delay = Math.min(delay * 2, 2000)
    }
    const connect = async (): Promise<void> => {
      const next = new pg.default.Client({connectionString: this.#url})
      next.on('notification', () => onChange())
      next.on('error', () => undefined) // followed by 'end', which reconnects
      try {
        await next.connect()
        await next.query(`LISTEN ${this.#channel()}`)
      } catch (error) {
        await next.end().catch(() => undefined)
        throw error
      }
      if (stopped) return void (await next.end())
      next.on('end', () => {
        if (client !== next) return
        client = undefined
        schedule()
      })
      client = next
      delay = 250
    }
    const reconnect = async (): Promise<void> => {
      if (stopped) return
      try {
        await connect()
        onChange()
      } catch {
        schedule()
      }
    }
    await this.#translate(connect)
    return async () => {
      stopped = true
      const last = client
      client = undefined
      await last?.end().catch(() => undefined)
    }
  }

  /** Closes the pool. */
  async close(): Promise<void> {
    const pool = this.#pool
    this.#pool = undefined
    if (pool) await (await pool).end()
  }

  /**
   * Runs a change in a transaction under an advisory lock on what it changes (so the
   * "before" it reads is the row it replaces, even for a row that does not exist yet) and,
   * when it changed something, inserts its entry and enforces the retention there too.
   */
  async #audited(origin: AuditOrigin, what: string, change: (q: Query) => Promise<AuditChange | false | undefined>): Promise<boolean> {
    return this.#transaction(async (q) => {
      await q('SELECT pg_advisory_xact_lock(hashtext($1))', [`berth ${this.#schema} ${what}`])
      const done = await change(q)
      if (!done) return false
      await this.#insertAudit(q, auditEntry(done, origin))
      return true
    })
  }

  /** Inserts an entry, then deletes the entries past their age and beyond the newest `maxEntries`. */
  async #insertAudit(q: Query, entry: AuditEntry): Promise<void> {
    const audit = this.#t('audit')
    await q(`INSERT INTO ${audit} (id, at, entry) VALUES ($1, $2, $3)`, [entry.id, entry.at, JSON.stringify(entry)])
    // The entry itself stays even when already past its age (a clock far behind), as in etcd.
    await q(`DELETE FROM ${audit} WHERE id < $1 AND id <> $2`, [expiredBefore(this.#retention), entry.id])
    // Only once trimSlack past the bound: an index scan of maxEntries ids on every append costs more than the insert.
    const {maxEntries} = this.#retention
    await q(`DELETE FROM ${audit} WHERE id <= (SELECT id FROM ${audit} ORDER BY id DESC OFFSET $1 LIMIT 1)
      AND EXISTS (SELECT 1 FROM ${audit} ORDER BY id DESC OFFSET $2 LIMIT 1)`, [maxEntries, maxEntries + trimSlack(this.#retention)])
  }

  async #transaction<T>(work: (q: Query) => Promise<T>): Promise<T> {
    const pool = await this.#ready()
    return this.#translate(async () => {
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        const result = await work((sql, values) => client.query(sql, values) as never)
        await client.query('COMMIT')
        return result
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined)
        throw error
      } finally {
        client.release()
      }
    })
  }

  #t(table: 'services' | 'secrets' | 'audit'): string {
    return `"${this.#schema}".${table}`
  }

  #channel(): string {
    return `berth_desired_${this.#schema}`
  }

  /** Opens the pool and creates the schema, tables and triggers once; a failed set-up is tried again on the next call. */
  #ready(): Promise<Pool> {
    this.#pool ??= this.#translate(async () => {
      const pg = await import('pg')
      const pool = new pg.default.Pool({connectionString: this.#url, max: 4, connectionTimeoutMillis: 5000})
      pool.on('error', () => undefined) // an idle client's connection dropped; the next query opens another
      try {
        await pool.query(setupSql(this.#schema, this.#channel()))
      } catch (error) {
        await pool.end()
        throw error
      }
      return pool
    })
    this.#pool.catch(() => { this.#pool = undefined })
    return this.#pool
  }

  async #query<R extends object = object>(sql: string, values?: unknown[]): Promise<{rows: R[]; rowCount: number | null}> {
    const pool = await this.#ready()
    return this.#translate(() => pool.query(sql, values) as unknown as Promise<{rows: R[]; rowCount: number | null}>)
  }

  /** Translates pg's errors at the boundary, naming the server but never the URL's password. */
  async #translate<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (error) {
      if (error instanceof BerthError) throw error
      const where = safeUrl(this.#url)
      const code = (error as {code?: string}).code
      const detail = `PostgreSQL ${where}: ${(error as Error).message}`
      // Class 08 and connection errno codes are worth a retry; anything else is a real failure.
      if (code === undefined || code.startsWith('08') || code.startsWith('E') || code === '57P03') throw new RetryableError(`${detail}; is PostgreSQL running and reachable?`, {cause: error})
      throw new BerthError(detail, {cause: error})
    }
  }
}

function safeUrl(url: string): string {
  try {
    const parsed = new URL(url)
    parsed.password = ''
    return `${parsed.host}${parsed.pathname}`
  } catch {
    return 'server'
  }
}
