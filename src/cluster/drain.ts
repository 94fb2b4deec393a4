import {appendAudit} from '../audit/append.js'
import {BerthError} from '../errors.js'
import {done, notYet, pollUntil} from '../poll.js'
import {ETCD_PREFIX, machineKeys} from '../layout/records.js'
import type {RecordStore} from '../etcd/records.js'
import type {ReplicaRow} from '../scheduler/ps.js'

/**
 * Draining a machine: a `<prefix>/machines/<machine>/drain` record that the scheduler's
 * leader reads, so the machine gets no replicated work and its replicas are placed
 * elsewhere (global services stay). `ready` deletes it. Both are audited.
 */

/** What the drain record holds: since when, and who asked. */
export interface DrainRecord {
  since: string
  reason?: string
}

/** Marks `machine` drained (again, keeping the first `since`); returns whether it was drained already. */
export async function drainMachine(store: RecordStore, machine: string, options: {reason?: string; prefix?: string} = {}): Promise<boolean> {
  const key = machineKeys(machine, options.prefix ?? ETCD_PREFIX).drain
  const record: DrainRecord = {since: new Date().toISOString(), ...(options.reason ? {reason: options.reason} : {})}
  const created = await store.create(key, record)
  if (created) await appendAudit(await store.auditLog(options.prefix ?? ETCD_PREFIX), {action: 'machine.drain', target: machine, ...(options.reason ? {detail: {reason: options.reason}} : {})})
  return !created
}

/** Takes `machine` back into placement; returns whether it was drained. */
export async function readyMachine(store: RecordStore, machine: string, prefix = ETCD_PREFIX): Promise<boolean> {
  const removed = await store.delete(machineKeys(machine, prefix).drain)
  if (removed) await appendAudit(await store.auditLog(prefix), {action: 'machine.ready', target: machine})
  return removed
}

/**
 * What still keeps a drained machine from being empty of replicated work: its replicas
 * still assigned to it, and the replicas of the same services not yet running where they
 * went (pending ones included). `services` are the replicated services it ran, so global
 * copies never count. Empty when the drain is done.
 */
export function drainLeft(rows: readonly ReplicaRow[], machine: string, services: ReadonlySet<string>): string[] {
  const left: string[] = []
  for (const row of rows) {
    if (!services.has(row.service)) continue
    if (row.machine === machine) left.push(`${row.replica} still on ${machine}`)
    else if (row.observed !== 'active') left.push(`${row.replica} ${row.machine ? `${row.observed} on ${row.machine}` : `pending: ${row.reason ?? 'no machine'}`}`)
  }
  return left
}

/** The replicated services with a replica on `machine` now (their rows carry when they were placed; global copies do not). */
export function replicatedOn(rows: readonly ReplicaRow[], machine: string): Set<string> {
  return new Set(rows.filter((r) => r.machine === machine && r.since !== undefined).map((r) => r.service))
}

/** Every replica where it is now, as `service ps` reads them. */
export async function replicaRowsNow(store: RecordStore, unitPrefix: string, prefix = ETCD_PREFIX): Promise<ReplicaRow[]> {
  const {readPsInputs, replicaRows} = await import('../scheduler/ps.js')
  return replicaRows(await readPsInputs(store, prefix), unitPrefix, undefined, prefix)
}

/**
 * Waits until the drained machine holds no replicated replica and those of `services` (the
 * replicated services it ran when the drain began) run elsewhere; `onLeft` hears what is
 * left after each look. Throws naming what is left at the deadline.
 */
export async function waitDrained(store: RecordStore, machine: string, services: ReadonlySet<string>, options: {timeoutMs: number; unitPrefix: string; prefix?: string; onLeft?: (left: string[]) => void}): Promise<void> {
  const rows = (): Promise<ReplicaRow[]> => replicaRowsNow(store, options.unitPrefix, options.prefix)
  await pollUntil(async () => {
    const left = drainLeft(await rows(), machine, services)
    options.onLeft?.(left)
    return left.length === 0 ? done(undefined) : notYet(left)
  }, {
    timeoutMs: options.timeoutMs,
    intervalMs: 500,
    retryOn: () => false,
    onTimeout: (last) => new BerthError(`${machine} is drained, but not every replica runs elsewhere within ${options.timeoutMs / 1000} s: ${(last.seen ?? []).join(', ')}; see berth service ps`),
  })
}
