import {BerthError} from '../errors.js'
import {openEtcd} from './client.js'
import {answeringEndpoints} from './probe.js'
import {etcdError} from './errors.js'

type Etcd3 = import('etcd3').Etcd3

/**
 * berth's JSON records in etcd (src/layout/records.ts), for the installer, status and
 * upgrades; etcd3 is loaded on first use. A record that does not parse is an error, except
 * in a `lenient` read: status still shows the other machines when one record is damaged.
 */
export class RecordStore {
  private constructor(private readonly client: Etcd3, readonly endpoints: string[]) {}

  /** A store talking to the cluster behind `endpoints` (http://IP:2379), through the members that accept a connect now (a CLI's short life never meets the others). */
  static async connect(endpoints: string[]): Promise<RecordStore> {
    return new RecordStore(await openEtcd(await answeringEndpoints(endpoints)), endpoints)
  }

  /** A store over a client its owner closes (EtcdCluster.records): do not close the store. */
  static over(client: Etcd3, endpoints: string[]): RecordStore {
    return new RecordStore(client, endpoints)
  }

  close(): void {
    this.client.close()
  }

  /** The audit trail under `prefix`, over this store's connection. */
  async auditLog(prefix: string): Promise<import('../audit/etcd.js').EtcdAuditLog> {
    const {EtcdAuditLog} = await import('../audit/etcd.js')
    return new EtcdAuditLog((fn) => this.call('write the audit trail', () => fn(this.client)), prefix)
  }

  /** The record under `key`, or undefined when there is none. */
  async get<T>(key: string, options: {lenient?: boolean} = {}): Promise<T | undefined> {
    const text = await this.call(`read ${key}`, () => this.client.get(key).string())
    return text === null ? undefined : decode<T>(key, text, options.lenient)
  }

  /** Every record whose key starts with `prefix`, by key. */
  async getAll<T>(prefix: string, options: {lenient?: boolean} = {}): Promise<Map<string, T>> {
    const values = await this.call(`read ${prefix}`, () => this.client.getAll().prefix(prefix).strings())
    const records = new Map<string, T>()
    for (const [key, text] of Object.entries(values)) {
      const record = decode<T>(key, text, options.lenient)
      if (record !== undefined) records.set(key, record)
    }
    return records
  }

  async put(key: string, value: unknown): Promise<void> {
    await this.call(`write ${key}`, () => this.client.put(key).value(JSON.stringify(value)).exec())
  }

  /** Deletes `key`; false when there was none. */
  async delete(key: string): Promise<boolean> {
    const result = await this.call(`delete ${key}`, () => this.client.delete().key(key).exec())
    return Number(result.deleted) > 0
  }

  /** Writes `value` only where `key` has never been written; false when it exists. */
  async create(key: string, value: unknown): Promise<boolean> {
    const result = await this.call(`create ${key}`, () => this.client.if(key, 'Create', '==', 0).then(this.client.put(key).value(JSON.stringify(value))).commit())
    return result.succeeded
  }

  /** The record's modification revision ('0' when absent), to `swap` against. */
  async revision(key: string): Promise<string> {
    const response = await this.call(`read ${key}`, () => this.client.get(key).exec())
    return String(response.kvs[0]?.mod_revision ?? '0')
  }

  /** Writes `value` only if `key` is still at `revision`; false when someone wrote it in between. */
  async swap(key: string, revision: string, value: unknown): Promise<boolean> {
    const result = await this.call(`write ${key}`, () => this.client.if(key, 'Mod', '==', revision).then(this.client.put(key).value(JSON.stringify(value))).commit())
    return result.succeeded
  }

  /** Runs one etcd call; a failure names the endpoints and says whether it is worth a retry. */
  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (error) {
      throw await etcdError(error, this.endpoints, what)
    }
  }
}

function decode<T>(key: string, text: string, lenient = false): T | undefined {
  try {
    return JSON.parse(text) as T
  } catch {
    if (lenient) return undefined
    throw new BerthError(`etcd: ${key} does not hold a JSON record: ${text.slice(0, 80)}`)
  }
}
