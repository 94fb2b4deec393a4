import type {Client, Pool} from 'pg'

import {BerthError, RetryableError, UsageError} from '../errors.js'
import {validateSecretName} from './secret-name.js'
import {validateServiceName, validateStoredServices, type ServiceSpec} from './spec.js'
import type {DesiredStore} from './store.js'
import {setupSql} from './store-postgres-sql.js'

/** Where the tables live; `schema` lets several installations (or test runs) share a database. */
export interface PostgresStoreOptions {
  url: string
  schema?: string
}

/**
 * Desired state in PostgreSQL, the az-coordinator's single-host mode. The store creates its
 * tables on first use; a statement trigger NOTIFYs on every write, so a change made by any
 * process (another agent, psql) wakes every watcher. pg is loaded on first use.
 */
export class PostgresStore implements DesiredStore {
  readonly #url: string
  readonly #schema: string
  #pool: Promise<Pool> | undefined

  constructor(options: PostgresStoreOptions) {
    this.#url = options.url
    this.#schema = options.schema ?? 'public'
    if (!/^[a-z_][a-z0-9_]{0,40}$/.test(this.#schema)) throw new UsageError(`PostgreSQL schema ${JSON.stringify(this.#schema)} must be lower-case letters, digits and _`)
  }

  /** Every service row, validated; a bad one fails the read, naming its row. */
  async services(): Promise<Map<string, ServiceSpec>> {
    const {rows} = await this.#query<{name: string; spec: unknown}>(`SELECT name, spec FROM ${this.#t('services')} ORDER BY name`)
    return validateStoredServices(rows.map((row) => ({name: row.name, where: {file: `PostgreSQL services/${row.name}`}, read: () => row.spec})))
  }

  /** Inserts or replaces a service row. */
  async putService(name: string, spec: ServiceSpec): Promise<void> {
    validateServiceName(name)
    await this.#query(`INSERT INTO ${this.#t('services')} (name, spec) VALUES ($1, $2)
      ON CONFLICT (name) DO UPDATE SET spec = EXCLUDED.spec, updated_at = now()`, [name, JSON.stringify(spec)])
  }

  /** Deletes a service row; false when there was none. */
  async deleteService(name: string): Promise<boolean> {
    return ((await this.#query(`DELETE FROM ${this.#t('services')} WHERE name = $1`, [name])).rowCount ?? 0) > 0
  }

  /** Keys of the secrets table. */
  async secretNames(): Promise<string[]> {
    return (await this.#query<{key: string}>(`SELECT key FROM ${this.#t('secrets')} ORDER BY key`)).rows.map((r) => r.key)
  }

  /** The ciphertext of a secret, or undefined. */
  async sealedSecret(name: string): Promise<Buffer | undefined> {
    return (await this.#query<{ciphertext: Buffer}>(`SELECT ciphertext FROM ${this.#t('secrets')} WHERE key = $1`, [name])).rows[0]?.ciphertext
  }

  /** Inserts or replaces a secret's ciphertext. */
  async putSealedSecret(name: string, blob: Buffer): Promise<void> {
    validateSecretName(name)
    await this.#query(`INSERT INTO ${this.#t('secrets')} (key, ciphertext) VALUES ($1, $2)
      ON CONFLICT (key) DO UPDATE SET ciphertext = EXCLUDED.ciphertext`, [name, blob])
  }

  /** Deletes a secret; false when there was none. */
  async deleteSecret(name: string): Promise<boolean> {
    return ((await this.#query(`DELETE FROM ${this.#t('secrets')} WHERE key = $1`, [name])).rowCount ?? 0) > 0
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

  #t(table: 'services' | 'secrets'): string {
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
