import type {Etcd3, IOperation} from 'etcd3'

import {ETCD_PREFIX, REVISIONS_KEPT, revisionKey, rolloutKeys, type RevisionRecord} from '../layout/records.js'

/**
 * A service's revisions (`<prefix>/revisions/<service>/<seq>`), pure: which key and record a
 * change appends and which old ones it trims, from the keys etcd holds. The store writes
 * them in the transaction of the change itself (src/agent/store/store-etcd.ts), and so does the
 * leader when it rolls a failed update back, so a spec never changes without its revision.
 */

/** The revisions of one service, oldest first; an unreadable one is left out. */
export function parseRevisions(values: Record<string, string>, service: string, prefix = ETCD_PREFIX): RevisionRecord[] {
  const dir = rolloutKeys(service, prefix).revisions
  const out: RevisionRecord[] = []
  for (const [key, text] of Object.entries(values)) {
    if (!key.startsWith(dir) || key.slice(dir.length).includes('/')) continue
    try {
      const record = JSON.parse(text) as RevisionRecord
      if (typeof record.seq === 'number' && typeof record.hash === 'string') out.push(record)
    } catch {
      // A damaged revision is skipped; the next change trims it in its turn.
    }
  }
  return out.sort((a, b) => a.seq - b.seq)
}

/** The newest revision with this hash, if one is kept. */
export function revisionOfHash(revisions: readonly RevisionRecord[], hash: string): RevisionRecord | undefined {
  return revisions.findLast((r) => r.hash === hash)
}

/** What appending one revision writes: the new key and record, and the keys of those past `keep`. */
export interface RevisionAppend {
  key: string
  record: RevisionRecord
  trim: string[]
}

/**
 * The next revision after those etcd holds (`values`: their keys and texts under the
 * service's revisions), keeping the newest `keep` in all. Sequence numbers follow the
 * highest key, readable or not, so a number is never given twice.
 */
export function appendRevision(service: string, values: Record<string, string>, change: Omit<RevisionRecord, 'seq'>, prefix = ETCD_PREFIX, keep = REVISIONS_KEPT): RevisionAppend {
  const dir = rolloutKeys(service, prefix).revisions
  const keys = Object.keys(values).filter((k) => k.startsWith(dir)).sort()
  const last = keys.length === 0 ? 0 : Number(keys.at(-1)!.slice(dir.length)) || keys.length
  const seq = last + 1
  return {key: revisionKey(service, seq, prefix), record: {seq, ...change}, trim: keys.slice(0, Math.max(0, keys.length + 1 - keep))}
}

/** The etcd operations that write one append, for the transaction of the change it records: the record, and the deletes of those it trims. */
export function revisionOps(client: Etcd3, append: RevisionAppend): IOperation[] {
  return [client.put(append.key).value(JSON.stringify(append.record)), ...append.trim.map((key) => client.delete().key(key))]
}
