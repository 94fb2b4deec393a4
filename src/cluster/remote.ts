import {readFile} from 'node:fs/promises'
import {homedir} from 'node:os'
import path from 'node:path'

import type {Cluster, Machine} from '../config/types.js'
import {UsageError} from '../errors.js'
import {clusterStateDir} from '../firstboot/index.js'
import {knownHostKey} from '../firstboot/hostkeys.js'
import type {SshConnection} from '../ssh/connection.js'

/** The provisioner's private key: `--identity`, else the file beside ssh.authorizedKeyFiles[0], else ~/.ssh/id_ed25519. */
export function identityFile(cluster: Cluster, explicit?: string): string {
  if (explicit) return explicit
  const first = cluster.ssh.keyFiles[0]
  return first?.endsWith('.pub') ? first.slice(0, -4) : path.join(homedir(), '.ssh', 'id_ed25519')
}

/**
 * Opens SSH to a machine of the cluster as cluster.yaml's ssh.user, accepting only the host
 * key berth generated for it (there is no trust on first use).
 */
export async function openShell(cluster: Cluster, machine: Machine, options: {identity: string; stateDir?: string; port?: number; timeoutMs?: number}): Promise<SshConnection> {
  const privateKey = await readFile(options.identity).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError([{path: '--identity', message: `cannot read ${options.identity} (${error.code ?? error.message})`, fix: 'pass the provisioner\'s private key with --identity'}])
  })
  const hostKey = await knownHostKey(options.stateDir ?? clusterStateDir(cluster), machine)
  const {connect} = await import('../ssh/connection.js')
  return connect({
    host: machine.ip,
    port: options.port,
    username: cluster.ssh.user,
    privateKey,
    knownHostKeys: [hostKey],
    timeoutMs: options.timeoutMs ?? 10_000,
  })
}
