import type {RevisionRecord, RolloutRecord} from '../layout/records.js'
import {UsageError} from '../errors.js'
import type {EnvValue, ServiceSpec, ServiceSpecInput} from '../spec/service.js'

/**
 * What `service update`, `service rollback` and `service history` show and decide, pure:
 * the changed spec from `--image`/`--env`, the revision a rollback goes to, the history
 * table, a rollout's progress line, and when a followed rollout has ended and how.
 */

/** The spec `service update` stores: the current one with `--image` (unpinned: see NOTES.md) and `--env K=V` (an empty V removes K). */
export function updatedSpec(current: ServiceSpec, change: {image?: string; env?: readonly string[]}): ServiceSpecInput {
  const next: ServiceSpecInput = structuredClone(current)
  if (change.image !== undefined && change.image !== current.image) {
    next.image = change.image
    // The old image's pin must not follow it: the unit would run the new name at the old digest.
    delete next.imageDigest
  }
  const env: Record<string, EnvValue> = {...next.env}
  for (const [i, pair] of (change.env ?? []).entries()) {
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new UsageError([{path: `--env ${pair}`, message: `is not KEY=VALUE (flag ${i + 1})`, fix: 'write --env LOG_LEVEL=debug, or --env LOG_LEVEL= to remove it'}])
    const [key, value] = [pair.slice(0, eq), pair.slice(eq + 1)]
    if (value === '') delete env[key]
    else env[key] = value
  }
  if (Object.keys(env).length > 0) next.env = env
  else delete next.env
  if (change.image === undefined && (change.env ?? []).length === 0) throw new UsageError([{path: 'service update', message: 'changes nothing', fix: 'give --image REF or --env KEY=VALUE'}])
  return next
}

/** The revision `service rollback` goes to: `--to REV`, or the newest one before the current spec's. */
export function rollbackTarget(service: string, revisions: readonly RevisionRecord[], currentHash: string, to?: number): RevisionRecord {
  const kept = revisions.map((r) => r.seq).join(', ') || 'none'
  if (to !== undefined) {
    const found = revisions.find((r) => r.seq === to)
    if (!found) throw new UsageError([{path: `--to ${to}`, message: `${service} keeps no revision ${to}`, fix: `use one it keeps: ${kept}; berth service history ${service} lists them`}])
    if (found.hash === currentHash) throw new UsageError([{path: `--to ${to}`, message: `revision ${to} is ${service}'s current spec`, fix: `pick another: ${kept}`}])
    return found
  }
  const current = revisions.findLast((r) => r.hash === currentHash)
  const before = revisions.findLast((r) => r.hash !== currentHash && (current === undefined || r.seq < current.seq))
  if (!before) throw new UsageError([{path: service, message: 'has no earlier revision to roll back to', fix: `revisions kept: ${kept}`}])
  return before
}

/** One line of `service history`. */
export interface HistoryRow {
  revision: number
  at: string
  origin: string
  image: string
  hash: string
  current: boolean
  note?: string
}

/** The history rows, newest first. */
export function historyRows(revisions: readonly RevisionRecord[], currentHash: string | undefined): HistoryRow[] {
  const current = revisions.findLast((r) => r.hash === currentHash)
  return [...revisions].reverse().map((r) => ({
    revision: r.seq, at: r.at, origin: r.origin, image: String((r.spec as {image?: unknown}).image ?? '-'), hash: r.hash, current: r === current, ...(r.note ? {note: r.note} : {}),
  }))
}

/** The history as a table, with the rollout's state under it. */
export function historyLines(rows: readonly HistoryRow[], rollout?: RolloutRecord): string[] {
  if (rows.length === 0) return ['No revisions.']
  const table = [['REV', 'AT', 'BY', 'IMAGE', 'HASH', 'NOTE'], ...rows.map((r) => [`${r.revision}${r.current ? '*' : ''}`, r.at, r.origin, r.image, r.hash, r.note ?? '-'])]
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)))
  const lines = table.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '))
  return rollout ? [...lines, '', `rollout: ${rolloutLine(rollout)}`] : lines
}

/** A rollout in one line: `running, batch 2 (web.2), 1 batches done: ...`. */
export function rolloutLine(r: RolloutRecord): string {
  const revs = `${r.fromRevision ?? r.from} → ${r.toRevision ?? r.to}`
  const batch = r.batch ? `, batch ${r.batchesDone + 1} (${r.batch.replicas.join(', ')}) until ${r.batch.deadline}` : ''
  return `${r.state} (revision ${revs}), ${r.batchesDone} batches done${batch}${r.message ? `: ${r.message}` : ''}`
}

/** How a followed change ended, or undefined while it goes on. */
export type Outcome = {state: 'completed' | 'rolled-back' | 'paused' | 'superseded' | 'applied'; message: string}

/**
 * Whether the change to `hash` is over: its rollout completed, paused or rolled back (the
 * leader's rollback rolls from `hash`), a newer change superseded it, or it needed no
 * rollout (every assignment names it, and no rollout record does). `fresh` tells a record
 * written since the change from one that was there before (the same spec may have failed
 * before, leaving a rolled-back record from that hash). A global service whose copies no
 * assignment names (a leader from before global services rolled, or none yet) had every
 * machine apply the change at once: that is its outcome.
 */
export function outcomeOf(hash: string, rollout: RolloutRecord | undefined, assignmentHashes: readonly string[], fresh: (record: RolloutRecord) => boolean, global = false): Outcome | undefined {
  if (rollout?.to === hash) {
    if (rollout.state === 'completed' || rollout.state === 'paused' || rollout.state === 'rolled-back') return {state: rollout.state, message: rolloutLine(rollout)}
    return undefined
  }
  if (rollout?.from === hash && fresh(rollout) && (rollout.state === 'rolling-back' || rollout.state === 'rolled-back')) {
    return rollout.state === 'rolled-back' ? {state: 'rolled-back', message: rolloutLine(rollout)} : undefined
  }
  if (rollout && fresh(rollout) && rollout.to !== hash) return {state: 'superseded', message: `a newer change (${rollout.to}) superseded it: ${rolloutLine(rollout)}`}
  if (assignmentHashes.length > 0 && assignmentHashes.every((h) => h === hash)) return {state: 'applied', message: `every replica runs ${hash}; nothing had to restart`}
  if (global && assignmentHashes.length === 0 && !(rollout && fresh(rollout))) return {state: 'applied', message: `no assignment names the revision of its copies: every machine runs ${hash} at once`}
  return undefined
}
