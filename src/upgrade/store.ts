import {BerthError} from '../errors.js'

type Etcd3 = import('etcd3').Etcd3

/**
 * berth's JSON records in etcd (src/cluster/records.ts), read and written through etcd3,
 * which is loaded on first use. A record that does not parse is reported, not ignored.
 */
export class RecordStore {
  private constructor(private readonly client: Etcd3, readonly endpoints: string[]) {}

  /** A store talking to the cluster behind `endpoints` (http://IP:2379). */
  static async connect(endpoints: string[], dialTimeout = 3000): Promise<RecordStore> {
    const {Etcd3} = await import('etcd3')
    return new RecordStore(new Etcd3({hosts: endpoints, dialTimeout}), endpoints)
  }

  close(): void {
    this.client.close()
  }

  /** The record under `key`, or undefined when there is none. */
  async get<T>(key: string): Promise<T | undefined> {
    const text = await this.call(`read ${key}`, () => this.client.get(key).string())
    if (text === null) return undefined
    try {
      return JSON.parse(text) as T
    } catch {
      throw new BerthError(`etcd: ${key} does not hold a JSON record: ${text.slice(0, 80)}`)
    }
  }

  async put(key: string, value: unknown): Promise<void> {
    await this.call(`write ${key}`, () => this.client.put(key).value(JSON.stringify(value)).exec())
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

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (error) {
      throw new BerthError(`etcd at ${this.endpoints.join(', ')}: cannot ${what}: ${(error as Error).message.split('\n')[0]}`, {cause: error})
    }
  }
}
