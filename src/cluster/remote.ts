import {readFile} from 'node:fs/promises'
import {homedir} from 'node:os'
import path from 'node:path'

import type {Cluster, Machine} from '../config/types.js'
import {UsageError} from '../errors.js'
import {clusterStateDir} from '../firstboot/index.js'
import {knownHostKeys} from '../firstboot/hostkeys.js'
import {type MachineChannel, machineShells, type MachineShells} from '../machine/shell.js'
import type {SshConnection} from '../ssh/connection.js'

/** The provisioner's private key: `--identity`, else the file beside ssh.authorizedKeyFiles[0], else ~/.ssh/id_ed25519. */
export function identityFile(cluster: Cluster, explicit?: string): string {
  if (explicit) return explicit
  const first = cluster.ssh.keyFiles[0]
  return first?.endsWith('.pub') ? first.slice(0, -4) : path.join(homedir(), '.ssh', 'id_ed25519')
}

/** Opens SSH to one machine; `address` overrides its IP and port 22 (tests on loopback). */
export type ShellOpener = (machine: Machine, address?: {host: string; port?: number}) => Promise<SshConnection>

/**
 * Opens SSH to machines of the cluster as cluster.yaml's ssh.user, accepting only the host
 * key berth generated for each (there is no trust on first use). The provisioner's key and
 * the host keys are read once, however many machines it opens.
 */
export async function shellOpener(cluster: Cluster, options: {identity: string; stateDir?: string; timeoutMs?: number}): Promise<ShellOpener> {
  const privateKey = await readFile(options.identity).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError([{path: '--identity', message: `cannot read ${options.identity} (${error.code ?? error.message})`, fix: 'pass the provisioner\'s private key with --identity'}])
  })
  const hostKeys = await knownHostKeys(options.stateDir ?? clusterStateDir(cluster))
  const {connect} = await import('../ssh/connection.js')
  return async (machine, address) => connect({
    host: address?.host ?? machine.ip,
    port: address?.port,
    username: cluster.ssh.user,
    privateKey,
    knownHostKeys: [hostKeys.of(machine)],
    timeoutMs: options.timeoutMs ?? 10_000,
  })
}

/** The flow's way into one machine over an open SSH connection: commands, atomic files, streams. */
export function sshChannel(connection: SshConnection): MachineChannel {
  return {
    exec: (command, o) => connection.exec(command, o.stdin === undefined ? {} : {stdin: o.stdin}),
    // One SFTP session per batch, over the flow's connection.
    writeFiles: (files, o) => connection.uploadFilesAtomic(files, o.onFile, {inMemory: o.inMemory, staleTempAgeMs: o.staleTempAgeMs}),
    start: (command, o) => connection.start(command, o),
    get lost() {
      return connection.closedReason !== undefined
    },
    close: () => connection.close(),
  }
}

/**
 * The machines of one flow over an opener already made (its key and host keys read): one
 * connection per machine, opened on its first command, reached at `address` when given
 * (tests and benches on loopback), closed by `close`.
 */
export function openerShells(open: ShellOpener, address?: (machine: Machine) => {host: string; port?: number} | undefined): MachineShells {
  return machineShells(async (machine) => sshChannel(await open(machine, address?.(machine))))
}

/**
 * The machines of one flow over SSH, as shellOpener opens them: one connection per machine,
 * opened on its first command and reused by the rest, closed by `close`. The provisioner's
 * key and the host keys are read on the first connection.
 */
export function sshShells(cluster: Cluster, options: {identity: string; stateDir?: string; timeoutMs?: number; port?: number}): MachineShells {
  let opener: Promise<ShellOpener> | undefined
  return machineShells(async (machine) => {
    const open = await (opener ??= shellOpener(cluster, options).catch((error: unknown) => {
      opener = undefined
      throw error
    }))
    return sshChannel(await open(machine, options.port === undefined ? undefined : {host: machine.ip, port: options.port}))
  })
}
