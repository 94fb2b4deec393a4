import * as Flags from '@oclif/core/flags'

import {loadClusterFile, type Loaded} from '../config/load.js'

/** `-c, --config FILE`: the cluster description most commands start from. */
export const configFlag = Flags.string({
  char: 'c',
  description: 'cluster.yaml to read.',
  default: 'cluster.yaml',
  env: 'BERTH_CLUSTER',
})

/** `--state-dir DIR`: where berth remembers host keys and local clusters. */
export const stateDirFlag = Flags.string({
  description: 'Where berth keeps generated host keys and cluster records (default ~/.local/state/berth).',
  env: 'BERTH_STATE_DIR',
})

/** `-i, --identity FILE`: the provisioner's private key for SSH to the machines. */
export const identityFlag = Flags.string({char: 'i', description: 'Provisioner\'s private SSH key (default: beside the public key in cluster.yaml).'})

/**
 * Machines uploaded to at once by default. An upload mostly waits (round trips, the node's
 * fsync, sshd's own start-up) and costs the provisioner ~15 ms of CPU, so 16 at once keep
 * two cores busy without queueing a rack of machines behind a few.
 */
export const DEFAULT_PARALLEL_UPLOADS = 16

/** `--parallel N`: the bounded fan-out of secrets uploads (upload-secrets, local-cluster provision). */
export const parallelUploadsFlag = Flags.integer({description: 'Upload to at most this many machines at once.', default: DEFAULT_PARALLEL_UPLOADS, min: 1, max: 64})

/** Loads cluster.yaml and prints its warnings on stderr. */
export async function loadWithWarnings(file: string): Promise<Loaded> {
  const loaded = await loadClusterFile(file)
  for (const warning of loaded.warnings) process.stderr.write(`berth: warning: ${warning}\n`)
  return loaded
}
