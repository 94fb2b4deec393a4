import {randomBytes} from 'node:crypto'
import {hostname, userInfo} from 'node:os'

import {UsageError} from '../errors.js'

/**
 * The audit trail's vocabulary: who changed what, from where, and the spec hash before and
 * after. Entries are written by the stores (src/agent/store/store-*.ts) in the same transaction
 * as the change where the store has transactions, and by the CLI for changes it makes to
 * etcd directly (machines, upgrades). Pure: no store, no client library.
 */

/** What changed. Secrets are named, never valued. */
export type AuditAction =
  | 'service.put' | 'service.delete' | 'service.rollback' | 'service.auto-upgrade'
  | 'secret.set' | 'secret.delete'
  | 'machine.add' | 'machine.remove' | 'machine.upgrade' | 'machine.drain' | 'machine.ready'

/** From where: the admin API's view of its client, or the CLI's own word about itself. */
export interface AuditOrigin {
  /** agent: a change an agent makes by itself (the scheduler's leader upgrading an image). */
  via: 'api' | 'cli' | 'agent'
  /** The client's address as the admin API saw it (the last hop: a proxy, if there is one). */
  address?: string
  /** What the CLI says about itself, unverified: its host name and user. */
  claimed?: {host?: string; user?: string}
}

/** A change as its maker describes it; the entry adds the id, the time and the origin. */
export interface AuditChange {
  action: AuditAction
  /** The service, secret or machine changed. */
  target: string
  /** The spec hash before (null: there was none, or the target has no spec). */
  before?: string | null
  after?: string | null
  /** A few words more, like a machine's address and role or an upgrade's image. */
  detail?: Record<string, string>
}

/** One entry of the trail. */
export interface AuditEntry {
  /** Time-sortable: the ISO time, then a per-process counter and random hex (entries of one millisecond differ, and one process's sort in order). */
  id: string
  at: string
  action: AuditAction
  target: string
  from: AuditOrigin
  before: string | null
  after: string | null
  detail?: Record<string, string>
}

/** How much of the trail is kept; enforced by every append. */
export interface AuditRetention {
  maxEntries: number
  maxAgeMs: number
}

/**
 * The last 10,000 entries (up to 1 % more between trims, see trimSlack) and at most 90 days: a busy cluster's quarter of deploys, a few
 * MB in etcd (whose default quota is 2 GB, and which holds the trail in memory with the
 * rest), and small enough that `berth audit` reads it all in a second.
 */
export const AUDIT_RETENTION: AuditRetention = {maxEntries: 10_000, maxAgeMs: 90 * 86_400_000}

/** What `berth audit` and GET /v1/audit ask for. */
export interface AuditQuery {
  /** ISO time: entries at or after it. */
  since?: string
  /** Only changes of this service. */
  service?: string
}

/** A new entry for `change`, made now by `origin`. */
let sequence = 0

export function auditEntry(change: AuditChange, origin: AuditOrigin, now = new Date()): AuditEntry {
  const at = now.toISOString()
  // Within one millisecond, entries of this process sort in the order they were made (the counter), others by chance.
  sequence = (sequence + 1) % 0x10000
  const entry: AuditEntry = {id: `${at}-${sequence.toString(16).padStart(4, '0')}${randomBytes(2).toString('hex')}`, at, action: change.action, target: change.target, from: origin, before: change.before ?? null, after: change.after ?? null}
  if (change.detail) entry.detail = change.detail
  return entry
}

/**
 * How many entries past `maxEntries` wait before they are trimmed, all at once: 1 %, so
 * that a full trail costs one trim per hundred appends (a trim is a read and a delete, and
 * the file store's is a rewrite of the whole file), not one per append.
 */
export function trimSlack(retention: AuditRetention): number {
  return Math.floor(retention.maxEntries / 100)
}

/** The id below which entries are past `retention`'s age at `now`: every older id sorts before it. */
export function expiredBefore(retention: AuditRetention, now = Date.now()): string {
  return new Date(now - retention.maxAgeMs).toISOString()
}

/** Whether an entry answers the query. */
export function matchesQuery(entry: AuditEntry, query: AuditQuery): boolean {
  if (query.since !== undefined && entry.at < query.since) return false
  if (query.service !== undefined && !(entry.action.startsWith('service.') && entry.target === query.service)) return false
  return true
}

/** Entries oldest first, as the trail is read. */
export function byId(a: AuditEntry, b: AuditEntry): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

/** A claimed host or user a header may carry: printable ASCII without spaces, at most 255 characters. */
export function claimProblem(value: string): string | undefined {
  return /^[\x21-\x7e]{1,255}$/.test(value) ? undefined : 'must be 1-255 printable ASCII characters without spaces'
}

/** How the CLI names itself: this computer's host name and the user running berth. */
export function cliClaim(): {host?: string; user?: string} {
  let user: string | undefined
  try {
    user = userInfo().username
  } catch {
    user = process.env.USER
  }
  const claim: {host?: string; user?: string} = {}
  const host = hostname()
  if (claimProblem(host) === undefined) claim.host = host
  if (user !== undefined && claimProblem(user) === undefined) claim.user = user
  return claim
}

/** The origin of a change the CLI makes itself (not through the admin API). */
export function cliOrigin(): AuditOrigin {
  return {via: 'cli', claimed: cliClaim()}
}

const UNITS: Record<string, number> = {s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000}
const TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})?)?$/

/**
 * `--since`: a duration back from now (`90m`, `12h`, `7d`, `2w`) or a time (`2026-12-01`,
 * `2026-12-01T08:00Z`; a date alone is midnight UTC, a time without a zone is UTC too).
 * Returns the ISO time; anything else is bad usage with the forms that work.
 */
export function parseSince(text: string, now = Date.now()): string {
  const duration = /^(\d+)([smhdw])$/.exec(text)
  if (duration) return new Date(now - Number(duration[1]) * UNITS[duration[2]!]!).toISOString()
  if (TIME.test(text)) {
    const zoned = text.length > 10 && !/(Z|[+-]\d{2}:\d{2})$/.test(text) ? `${text}Z` : text
    const ms = Date.parse(zoned)
    if (!Number.isNaN(ms)) return new Date(ms).toISOString()
  }
  throw new UsageError([{path: '--since', message: `${JSON.stringify(text)} is neither a duration nor a time`, fix: 'write a duration like 90m, 12h or 7d, or a time like 2026-12-01 or 2026-12-01T08:00:00Z'}])
}

/** The table `berth audit` prints: one line per entry, oldest first. */
export function auditTable(entries: readonly AuditEntry[]): string[] {
  if (entries.length === 0) return ['No audit entries.']
  const hash = (h: string | null): string => (h === null ? '-' : h.slice(0, 12))
  const rows = [['TIME', 'ACTION', 'TARGET', 'FROM', 'BEFORE', 'AFTER'], ...entries.map((e) => [e.at, e.action, e.target, originText(e.from), hash(e.before), hash(e.after)])]
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)))
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '))
}

/** `api 10.0.0.5 (claims ops@laptop)` or `cli ops@laptop`. */
export function originText(origin: AuditOrigin): string {
  const who = origin.claimed && (origin.claimed.user || origin.claimed.host) ? `${origin.claimed.user ?? '?'}@${origin.claimed.host ?? '?'}` : undefined
  if (origin.via === 'api') return `api ${origin.address ?? '?'}${who ? ` (claims ${who})` : ''}`
  if (origin.via === 'agent') return `agent ${origin.claimed?.host ?? '?'}`
  return `cli ${who ?? '?'}`
}

/** Where the audit trail is kept: beside the desired state, in the same store. */
export interface AuditLog {
  /** Appends one entry (a change made elsewhere: a machine added, an upgrade) and enforces the retention. */
  appendAudit(entry: AuditEntry): Promise<void>
  /** The entries that answer the query, oldest first. */
  auditEntries(query?: AuditQuery): Promise<AuditEntry[]>
}
