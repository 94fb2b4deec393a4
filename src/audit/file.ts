import {appendFile, readFile} from 'node:fs/promises'
import path from 'node:path'

import {writeFileAtomic} from '../fsx.js'
import {AUDIT_RETENTION, byId, expiredBefore, matchesQuery, trimSlack, type AuditEntry, type AuditQuery, type AuditRetention} from './entry.js'
import {parseEntry} from './etcd.js'

/** The audit trail of a file store at `file`: beside it, `desired.yaml` → `desired.audit.jsonl`. */
export function auditFileOf(file: string): string {
  const ext = path.extname(file)
  const base = /^\.ya?ml$|^\.json$/i.test(ext) ? file.slice(0, -ext.length) : file
  return `${base}.audit.jsonl`
}

/**
 * The file store's audit trail: one JSON entry a line, mode 0600, appended with O_APPEND.
 * The caller holds the store's lock. When an append would pass the retention (by age, or
 * trimSlack past the count), the file is instead rewritten atomically (temp file, rename)
 * without the entries it drops.
 */
export class FileAuditLog {
  constructor(readonly file: string, private readonly retention: AuditRetention = AUDIT_RETENTION) {}

  /** Appends `entry`; the caller holds the store's lock. */
  async appendLocked(entry: AuditEntry): Promise<void> {
    const line = Buffer.from(`${JSON.stringify(entry)}\n`)
    // Bytes, not text: a full trail is ~4 MB, and splitting it into strings on every append
    // would cost more than the append.
    const bytes = await readFile(this.file).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return Buffer.alloc(0)
      throw error
    })
    const lines = lineRanges(bytes)
    const cutoff = Buffer.from(expiredBefore(this.retention))
    const fresh = lines.filter(([from, to]) => idAtLeast(bytes, from, to, cutoff))
    const over = fresh.length + 1 > this.retention.maxEntries + trimSlack(this.retention)
    const kept = over ? fresh.slice(fresh.length + 1 - this.retention.maxEntries) : fresh
    // A torn last line (a crash mid-write) must not swallow the next entry.
    const torn = bytes.length > 0 && bytes[bytes.length - 1] !== 0x0a
    if (kept.length === lines.length && !torn) return appendFile(this.file, line, {mode: 0o600})
    await writeFileAtomic(this.file, Buffer.concat([...kept.map(([from, to]) => bytes.subarray(from, to + 1)), line]), 0o600)
  }

  /** The entries that answer the query, oldest first; a line that is not an entry (a torn last write) is skipped. */
  async entries(query: AuditQuery = {}): Promise<AuditEntry[]> {
    const entries: AuditEntry[] = []
    for (const line of (await this.#text()).split('\n')) {
      const entry = line === '' ? undefined : parseEntry(line)
      if (entry && matchesQuery(entry, query)) entries.push(entry)
    }
    return entries.sort(byId)
  }

  async #text(): Promise<string> {
    return readFile(this.file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return ''
      throw error
    })
  }
}

/** Where each non-empty line of `bytes` starts and ends (the index of its newline, or the end). */
function lineRanges(bytes: Buffer): Array<[number, number]> {
  const ranges: Array<[number, number]> = []
  for (let from = 0; from < bytes.length;) {
    let to = bytes.indexOf(0x0a, from)
    if (to < 0) to = bytes.length
    if (to > from) ranges.push([from, to])
    from = to + 1
  }
  return ranges
}

const ID_START = Buffer.from('{"id":"')

/**
 * Whether the line from `from` to `to` is an entry whose id sorts at or after `cutoff`, read without
 * parsing it: JSON.stringify writes `id` first. Every line is checked, not only the first:
 * lines are in time order except where clocks differ. A line that is not an entry is false.
 */
function idAtLeast(bytes: Buffer, from: number, to: number, cutoff: Buffer): boolean {
  const at = from + ID_START.length
  if (to - at < cutoff.length) return false
  return bytes.compare(ID_START, 0, ID_START.length, from, at) === 0 && bytes.compare(cutoff, 0, cutoff.length, at, at + cutoff.length) >= 0
}
