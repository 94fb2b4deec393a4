import type {Etcd3, IOperation, IRequestOp} from 'etcd3'

import {auditDir} from '../layout/records.js'
import {AUDIT_RETENTION, byId, expiredBefore, matchesQuery, trimSlack, type AuditEntry, type AuditLog, type AuditQuery, type AuditRetention} from './entry.js'

/** Runs one call on the etcd client, translating its errors (each owner has its own wording). */
export type EtcdCall = <T>(call: (client: Etcd3) => Promise<T>) => Promise<T>

/** A key's modification revision that a change is conditional on ('0': the key must not exist). */
export interface Guard {
  key: string
  revision: string
}


/** The first key after every key that starts with `dir` (its last byte plus one). */
function rangeEnd(dir: string): string {
  return dir.slice(0, -1) + String.fromCharCode(dir.charCodeAt(dir.length - 1) + 1)
}

const PAGE = 500

/**
 * The audit trail in etcd, under `<prefix>/audit/<id>`. An entry is written in one
 * transaction with the change it records (the change's ops and guard), with the entries
 * past their age deleted in that transaction too; the count bound is enforced right after
 * (the oldest keys beyond it deleted, once they are trimSlack past it), since a transaction
 * cannot say which keys those are.
 */
export class EtcdAuditLog implements AuditLog {
  readonly #dir: string

  constructor(private readonly call: EtcdCall, prefix: string, private readonly retention: AuditRetention = AUDIT_RETENTION) {
    this.#dir = auditDir(prefix)
  }

  /** Appends an entry for a change made elsewhere. */
  async appendAudit(entry: AuditEntry): Promise<void> {
    await this.commit(entry)
  }

  /**
   * Writes `ops` and the entry in one transaction that holds only while `guard`'s key is
   * still at its revision; false (and nothing written) when it moved.
   */
  async commit(entry: AuditEntry, change: {guard?: Guard; ops?: (client: Etcd3) => IOperation[]} = {}): Promise<boolean> {
    const key = this.#dir + entry.id
    const end = rangeEnd(this.#dir)
    const count: IRequestOp = {request_range: {key: Buffer.from(this.#dir), range_end: Buffer.from(end), count_only: true}}
    const expired = expiredBefore(this.retention)
    const result = await this.call((c) => {
      const txn = change.guard ? c.if(change.guard.key, 'Mod', '==', change.guard.revision).and(key, 'Create', '==', 0) : c.if(key, 'Create', '==', 0)
      // etcd refuses a put inside a deleted range: an entry already past its age (a clock
      // far behind) is written alone and goes with the next append.
      const prune = entry.id < expired ? [] : [c.delete().inRange({start: this.#dir, end: this.#dir + expired})]
      return txn.then(...(change.ops?.(c) ?? []), c.put(key).value(JSON.stringify(entry)), ...prune, count).commit()
    })
    if (!result.succeeded) return false
    const kept = Number(result.responses.at(-1)?.response_range.count ?? 0)
    if (kept > this.retention.maxEntries + trimSlack(this.retention)) await this.#trim(kept - this.retention.maxEntries)
    return true
  }

  /** Every entry that answers the query, read in pages from `since` on, oldest first. */
  async auditEntries(query: AuditQuery = {}): Promise<AuditEntry[]> {
    const end = rangeEnd(this.#dir)
    const entries: AuditEntry[] = []
    for (let start = this.#dir + (query.since ?? ''); ;) {
      // etcd answers a range in key order; asking it to sort makes it sort the whole range first.
      const page = await this.call((c) => c.getAll().inRange({start, end}).limit(PAGE).strings())
      const keys = Object.keys(page)
      for (const text of Object.values(page)) {
        const entry = parseEntry(text)
        if (entry && matchesQuery(entry, query)) entries.push(entry)
      }
      if (keys.length < PAGE) break
      start = `${keys.sort().at(-1)!}\0`
    }
    return entries.sort(byId)
  }

  /** Deletes the `excess` oldest entries. */
  async #trim(excess: number): Promise<void> {
    const oldest = await this.call((c) => c.getAll().prefix(this.#dir).limit(excess).keys())
    const last = oldest.sort().at(-1)
    if (last !== undefined) await this.call((c) => c.delete().inRange({start: this.#dir, end: `${last}\0`}).exec())
  }
}

/** An entry as stored, or undefined for a value that is not one (a hand-written key). */
export function parseEntry(text: string): AuditEntry | undefined {
  try {
    const value = JSON.parse(text) as AuditEntry
    return typeof value?.id === 'string' && typeof value.at === 'string' && typeof value.action === 'string' ? value : undefined
  } catch {
    return undefined
  }
}
