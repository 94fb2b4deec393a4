import {createHash} from 'node:crypto'

import {UsageError} from '../errors.js'

/**
 * berth's etcd snapshot file: one line naming the format, one line of JSON metadata, then
 * etcd's own snapshot database exactly as the maintenance API streamed it (which ends in
 * etcd's sha256 of it, checked again by `etcdctl snapshot restore`). One file, so the
 * metadata cannot be separated from the data it describes. Pure: no I/O here.
 *
 * Service secrets in etcd are sealed (AES-256-GCM envelopes, src/secrets/envelope.ts), so a
 * snapshot holds no clear secret; it is written 0600 all the same, as etcd's data dir is.
 */

/** The first line of every snapshot file. */
export const SNAPSHOT_MAGIC = 'berth-etcd-snapshot 1'

/** What a snapshot file says about itself. */
export interface SnapshotMeta {
  /** The berth cluster's name (cluster.yaml `name`): a snapshot is restored only into its own cluster. */
  cluster: string
  /** etcd's cluster id when it was taken (a restore makes a new one). */
  etcdClusterId: string
  /** The store's revision when the snapshot began (etcd 3.4 sends no header with the stream). */
  revision: string
  members: {name: string; peerUrls: string[]}[]
  /** The member the snapshot was streamed from. */
  takenFrom: string
  takenAt: string
  berthVersion: string
  /** Size and sha256 (hex) of the database that follows the metadata. */
  dbBytes: number
  sha256: string
}

/** The file's bytes: magic line, metadata line, database. */
export function encodeSnapshot(meta: Omit<SnapshotMeta, 'dbBytes' | 'sha256'>, db: Buffer): {bytes: Buffer; meta: SnapshotMeta} {
  const full: SnapshotMeta = {...meta, dbBytes: db.length, sha256: createHash('sha256').update(db).digest('hex')}
  return {bytes: Buffer.concat([Buffer.from(`${SNAPSHOT_MAGIC}\n${JSON.stringify(full)}\n`), db]), meta: full}
}

/**
 * Reads a snapshot file and checks it whole before anything is stopped: the format, the
 * metadata, the size (a truncated copy), the sha256 (a corrupt one) and, with `cluster`,
 * that it was taken from that cluster. Any fault is bad usage (exit 2) naming the file.
 */
export function decodeSnapshot(bytes: Buffer, file: string, cluster?: string): {meta: SnapshotMeta; db: Buffer} {
  const refuse = (message: string, fix: string): never => {
    throw new UsageError([{file, message, fix}])
  }
  const first = bytes.indexOf(0x0a)
  if (first < 0 || bytes.subarray(0, first).toString() !== SNAPSHOT_MAGIC) {
    refuse('is not a berth etcd snapshot (its first line is not "berth-etcd-snapshot 1")', 'pass a file written by `berth cluster backup` or by the agents\' scheduled snapshots')
  }
  const second = bytes.indexOf(0x0a, first + 1)
  if (second < 0) refuse('is truncated: its metadata line has no end', 'use another copy of the snapshot')
  let meta: SnapshotMeta | undefined
  try {
    meta = JSON.parse(bytes.subarray(first + 1, second).toString()) as SnapshotMeta
  } catch {
    refuse('has corrupt metadata (not JSON)', 'use another copy of the snapshot')
  }
  if (typeof meta?.cluster !== 'string' || typeof meta.sha256 !== 'string' || typeof meta.dbBytes !== 'number' || !Array.isArray(meta.members)) {
    refuse('has incomplete metadata (cluster, members, dbBytes or sha256 missing)', 'use another copy of the snapshot')
  }
  const m = meta!
  const db = bytes.subarray(second + 1)
  if (db.length < m.dbBytes) refuse(`is truncated: ${db.length} of ${m.dbBytes} database bytes`, 'use another copy of the snapshot')
  if (db.length > m.dbBytes) refuse(`has ${db.length - m.dbBytes} bytes more than its metadata announces`, 'use another copy of the snapshot')
  const sum = createHash('sha256').update(db).digest('hex')
  if (sum !== m.sha256) refuse(`is corrupt: the database's sha256 is ${sum.slice(0, 12)}…, its metadata says ${m.sha256.slice(0, 12)}…`, 'use another copy of the snapshot')
  if (cluster !== undefined && m.cluster !== cluster) {
    refuse(`was taken from cluster ${JSON.stringify(m.cluster)}, not ${JSON.stringify(cluster)}`, 'restore a snapshot of this cluster, or pass the other cluster\'s cluster.yaml')
  }
  return {meta: m, db}
}
