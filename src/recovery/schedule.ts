import {readdir, rm} from 'node:fs/promises'
import path from 'node:path'

import {type SnapshotRecord, snapshotKeys} from '../layout/records.js'
import {openEtcd} from '../etcd/open.js'
import {writeFileAtomic} from '../fsx.js'
import type {SnapshotMeta} from './snapshot-file.js'
import {takeSnapshot} from './take.js'

/**
 * Scheduled etcd snapshots, run by the agent of every main machine: each pass reads the
 * last snapshot's record in etcd and, once it is an interval old, takes the etcd lock and
 * snapshots; the others find the lock held or the record fresh and skip, so one machine
 * takes each snapshot. Files stay on the machine that took them, pruned to `keep`. Service
 * secrets in etcd are sealed, so the files hold no clear secret (they are 0600 anyway).
 */

/** What the agent's options say of the schedule, with what it needs to reach etcd. */
export interface ScheduleOptions {
  endpoints: string[]
  prefix: string
  machine: string
  dir: string
  cluster: string
  intervalSeconds: number
  keep: number
  log: (line: string) => void
}

/** Whether a snapshot is due: none was taken yet, or the last one is at least an interval old. */
export function snapshotDue(last: SnapshotRecord | undefined, now: number, intervalMs: number): boolean {
  return last === undefined || now - Date.parse(last.takenAt) >= intervalMs
}

/** A snapshot's file name: its time and revision, so names sort oldest first. */
export function snapshotFileName(meta: SnapshotMeta): string {
  return `etcd-${meta.takenAt.replace(/[:.]/g, '-')}-r${meta.revision}.snapshot`
}

/** The snapshot files to delete so that the newest `keep` stay (other files are left alone). */
export function snapshotsToPrune(names: readonly string[], keep: number): string[] {
  const ours = names.filter((n) => /^etcd-.*\.snapshot$/.test(n)).sort()
  return ours.slice(0, Math.max(0, ours.length - keep))
}

function parseRecord(text: string | null): SnapshotRecord | undefined {
  if (!text) return undefined
  try {
    return JSON.parse(text) as SnapshotRecord
  } catch {
    return undefined // an unreadable record is replaced by the next snapshot
  }
}

/** One pass: takes a snapshot if one is due and this machine gets the lock; says what it did. */
export async function snapshotIfDue(options: ScheduleOptions, client: import('etcd3').Etcd3, now = Date.now()): Promise<string | undefined> {
  const keys = snapshotKeys(options.prefix)
  const intervalMs = options.intervalSeconds * 1000
  if (!snapshotDue(parseRecord(await client.get(keys.last).string()), now, intervalMs)) return undefined
  const {EtcdLockFailedError} = await import('etcd3')
  // The lease outlives any snapshot of a cluster this size; a taker that dies frees it within a minute.
  const lock = await client.lock(keys.lock).ttl(60).acquire().catch((error: Error) => {
    if (error instanceof EtcdLockFailedError) return undefined
    throw error
  })
  if (!lock) return undefined
  try {
    // Another machine may have taken it between the first read and the lock.
    if (!snapshotDue(parseRecord(await client.get(keys.last).string()), Date.now(), intervalMs)) return undefined
    const taken = await takeSnapshot(options.endpoints, options.cluster)
    const file = snapshotFileName(taken.meta)
    await writeFileAtomic(path.join(options.dir, file), taken.bytes, 0o600)
    const record: SnapshotRecord = {machine: options.machine, file, takenAt: taken.meta.takenAt, revision: taken.meta.revision}
    await client.put(keys.last).value(JSON.stringify(record))
    const pruned = snapshotsToPrune(await readdir(options.dir), options.keep)
    await Promise.all(pruned.map((name) => rm(path.join(options.dir, name), {force: true})))
    return `etcd snapshot ${path.join(options.dir, file)} at revision ${taken.meta.revision}${pruned.length > 0 ? `; pruned ${pruned.length}` : ''}`
  } finally {
    await lock.release().catch(() => undefined)
  }
}

/** Runs `snapshotIfDue` now and then every half interval (at most a minute) until the returned stop is called. */
export function startSnapshotSchedule(options: ScheduleOptions): () => Promise<void> {
  const everyMs = Math.min(60_000, Math.max(1000, (options.intervalSeconds * 1000) / 2))
  const client = openEtcd(options.endpoints)
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let pass: Promise<void> = Promise.resolve()
  const run = (): void => {
    pass = client.then((c) => snapshotIfDue(options, c)).then(
      (note) => { if (note) options.log(note) },
      (error: Error) => options.log(`etcd snapshot skipped: ${error.message.split('\n')[0]}`),
    ).finally(() => {
      if (!stopped) timer = setTimeout(run, everyMs)
    })
  }
  run()
  return async () => {
    stopped = true
    clearTimeout(timer)
    await pass
    ;(await client).close()
  }
}
