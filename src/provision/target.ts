import * as Flags from '@oclif/core/flags'

import {configFlag, identityFlag, loadWithWarnings, stateDirFlag} from '../cli/flags.js'
import {identityFile} from '../cluster/remote.js'
import type {Cluster, Machine} from '../config/types.js'
import {UsageError} from '../errors.js'
import {clusterStateDir} from '../firstboot/hostkeys.js'

/**
 * Which cluster a provisioning command works on: cluster.yaml with the provisioner's key
 * and berth's state dir, or a local cluster by name (its own cluster.yaml, key and host keys).
 */

/** Flags shared by upload-secrets and status. */
export const targetFlags = {
  config: configFlag,
  identity: identityFlag,
  'state-dir': stateDirFlag,
  'local-cluster': Flags.string({description: 'Work on this local cluster (its cluster.yaml, provisioner key and host keys) instead of --config.'}),
}

/** A cluster with where its host keys and node secrets live and the key to log in with. */
export interface Target {
  cluster: Cluster
  stateDir: string
  identity: string
}

/** Resolves the flags to a cluster, its state dir and the provisioner key. */
export async function resolveTarget(flags: {config: string; identity?: string; 'state-dir'?: string; 'local-cluster'?: string}): Promise<Target> {
  if (flags['local-cluster']) {
    const {openLocal} = await import('../local-cluster/context.js')
    const local = await openLocal({name: flags['local-cluster'], 'state-dir': flags['state-dir']})
    return {cluster: local.cluster, stateDir: local.paths.stateDir, identity: flags.identity ?? local.paths.key}
  }
  const {cluster} = await loadWithWarnings(flags.config)
  return {cluster, stateDir: clusterStateDir(cluster, flags['state-dir']), identity: identityFile(cluster, flags.identity)}
}

/** The machines named by name or IP (all of them when none is named); an unknown one is a usage error. */
export function selectMachines(cluster: Cluster, names: readonly string[]): Machine[] {
  if (names.length === 0) return cluster.machines
  const unknown = names.filter((n) => !cluster.machines.some((m) => m.name === n || m.ip === n))
  if (unknown.length > 0) {
    throw new UsageError(unknown.map((n) => ({path: n, message: 'is not a machine of this cluster', fix: `use one of: ${cluster.machines.map((m) => m.name).join(', ')}`})))
  }
  return cluster.machines.filter((m) => names.includes(m.name) || names.includes(m.ip))
}
