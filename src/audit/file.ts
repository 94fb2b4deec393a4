import {appendFile, readFile} from 'node:fs/promises'
import path from 'node:path'

import {writeFileAtomic} from '../fsx.js'
import {AUDIT_RETENTION, byId, expiredBefore, matchesQuery, type AuditEntry, type AuditQuery, type AuditRetention} from './entry.js'
import {parseEntry} from './etcd.js'

/** The audit trail of a file store at `file`: beside it, `desired.yaml` → `desired.audit.jsonl`. */
export function auditFileOf(file: string): string {
  const ext = path.extname(file)
  const base = /^\.ya?ml$|^\.json$/i.test(ext) ? file.slice(0, -ext.length) : file
  return `${base}.audit.jsonl`
}

/**
 * The file store's audit trail: one JSON entry a line, mode 0600, appended with O_APPEND.
 * The caller holds the store's lock. When an append would pass the retention, the file is
 * instead rewritten atomically (temp file, rename) without the entries it drops.
 */
export class FileAuditLog {
  constructor(readonly file: string, private readonly retention: AuditRetention = AUDIT_RETENTION) {}

  /** Appends `entry`; the caller holds the store's lock. */
  async appendLocked(entry: AuditEntry): Promise<void> {
    const line = `${JSON.stringify(entry)}\n`
    const text = await this.#text()
    const lines = text.split('\n').filter((l) => l !== '')
    const cutoff = expiredBefore(this.retention)
    const fresh = lines.filter((l) => idOf(l) >= cutoff)
    const kept = fresh.slice(Math.max(0, fresh.length + 1 - this.retention.maxEntries))
    // A torn last line (a crash mid-write) must not swallow the next entry.
    if (kept.length === lines.length) return appendFile(this.file, text === '' || text.endsWith('\n') ? line : `\n${line}`, {mode: 0o600})
    await writeFileAtomic(this.file, kept.map((l) => `${l}\n`).join('') + line, 0o600)
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

/**
 * An entry line's id without parsing it: JSON.stringify writes `id` first. Lines are
 * appended in time order except when clocks differ, so each is checked, and parsing
 * 10,000 lines on every append would cost more than the append.
 */
function idOf(line: string): string {
  return line.startsWith('{"id":"') ? line.slice(7, line.indexOf('"', 7)) : ''
}
