import path from 'node:path'

import type {Step} from '../cli/progress.js'
import {etcdEndpoints} from '../cluster/target.js'
import type {Cluster} from '../config/types.js'
import {writeFileAtomic} from '../fsx.js'
import type {SnapshotMeta} from './snapshot-file.js'
import {type TakenSnapshot, takeSnapshot} from './take.js'

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
 * with its metadata, written atomically with mode 0600.
 */
export function backupSteps(request: BackupRequest, result: {meta?: SnapshotMeta; file?: string}): {steps: Step[]; close: () => void} {
  const endpoints = etcdEndpoints(request.cluster)
  let taken: TakenSnapshot | undefined
  const steps: Step[] = [{
    title: `Take a snapshot through etcd's maintenance API from the first member that answers of ${endpoints.join(', ')}`,
    run: async () => {
      taken = await takeSnapshot(endpoints, request.cluster.name)
      return `revision ${taken.meta.revision}, ${taken.meta.dbBytes} bytes from ${taken.meta.takenFrom}`
    },
  }, {
    title: `Write ${request.out} (mode 0600, temp file then rename)`,
    run: async () => {
      await writeFileAtomic(request.out, taken!.bytes, 0o600)
      Object.assign(result, {meta: taken!.meta, file: request.out})
      return `sha256 ${taken!.meta.sha256.slice(0, 12)}…`
    },
  }]
  return {steps, close: () => undefined}
}
