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
    let drop = 0
    // Oldest first: expired entries are a run at the front.
    while (drop < lines.length && (parseEntry(lines[drop]!)?.at ?? '') < cutoff) drop++
    drop = Math.max(drop, lines.length + 1 - this.retention.maxEntries)
    // A torn last line (a crash mid-write) must not swallow the next entry.
    if (drop <= 0) return appendFile(this.file, text === '' || text.endsWith('\n') ? line : `\n${line}`, {mode: 0o600})
    await writeFileAtomic(this.file, lines.slice(drop).map((l) => `${l}\n`).join('') + line, 0o600)
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
