import path from 'node:path'

import {Chain} from '../cli/chain.js'
import type {Step} from '../cli/progress.js'
import {etcdEndpoints} from '../cluster/target.js'
import type {Cluster} from '../config/types.js'
import {exists, writeFileAtomic} from '../fsx.js'
import type {SnapshotMeta} from './snapshot-file.js'
import {snapshotSource, takeSnapshot} from './take.js'

/** What `cluster backup` is asked to do. */
export interface BackupRequest {
  cluster: Cluster
  /** The snapshot file to write. */
  out: string
}

/** The file a backup writes when --out is not given: the cluster's name and the time, in the working folder. */
export function defaultBackupFile(cluster: Cluster, now = new Date()): string {
  return path.resolve(`${cluster.name}-etcd-${now.toISOString().replace(/[:.]/g, '-')}.snapshot`)
}

/**
 * The steps of a backup: a snapshot from the first main machine's etcd that answers,
 * with its metadata, written atomically with mode 0600. The snapshot is handed from the
 * first step to the second; the previews name the member that answers and the file.
 */
export function backupSteps(request: BackupRequest): {steps: Step[]; result: () => {meta: SnapshotMeta; file: string}; close: () => void} {
  const endpoints = etcdEndpoints(request.cluster)
  const plan = new Chain({})
    .step(`Take a snapshot through etcd's maintenance API from the first member that answers of ${endpoints.join(', ')}`, async () => {
      const taken = await takeSnapshot(endpoints, request.cluster.name)
      return {note: `revision ${taken.meta.revision}, ${taken.meta.dbBytes} bytes from ${taken.meta.takenFrom}`, taken}
    }, async () => {
      const source = await snapshotSource(endpoints)
      return `would stream the snapshot of member ${source.member || '(unnamed)'} (id ${source.memberId}) through ${source.endpoint}: now revision ${source.revision}, ${source.dbBytes} bytes`
    })
    .step(`Write ${request.out} (mode 0600, temp file then rename)`, async ({taken}) => {
      await writeFileAtomic(request.out, taken.bytes, 0o600)
      return {note: `sha256 ${taken.meta.sha256.slice(0, 12)}…`}
    }, async () => `would write ${request.out}${await exists(request.out) ? ' (replacing the file there)' : ''} with mode 0600: a temp file in ${path.dirname(request.out)}, then renamed`)
  const result = () => ({meta: plan.result().taken.meta, file: request.out})
  return {steps: plan.steps, result, close: () => undefined}
}
