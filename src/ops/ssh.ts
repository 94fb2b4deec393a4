import {access} from 'node:fs/promises'
import path from 'node:path'

import {machineNamed} from '../cluster/target.js'
import type {Machine} from '../config/types.js'
import {UsageError} from '../errors.js'
import type {Target} from '../provision/target.js'
import type {MachineShells} from '../machine/shell.js'
import {attach, type Stdio, wantsTty} from './terminal.js'

/**
 * `berth ssh` and `cluster ssh-config` for any cluster (and, through thin wrappers, the
 * local-cluster commands of the same names): always the host keys berth generated.
 */

/**
 * Opens a shell on a machine, or runs a command there (its words joined by spaces, as
 * OpenSSH's client does), and resolves with the remote exit code. A shell gets a pty
 * when stdin is a terminal; `tty` overrides that either way. The caller closes `target.machines`.
 */
export async function sshMachine(target: Pick<Target, 'cluster'> & {machines: MachineShells}, name: string, argv: readonly string[], options: {tty?: boolean; stdio?: Stdio} = {}): Promise<number> {
  const machine = machineNamed(target.cluster, name, 'MACHINE')
  const command = argv.length > 0 ? argv.join(' ') : undefined
  return attach(target.machines.on(machine), command, {tty: wantsTty(options.tty, command === undefined, options.stdio?.stdin), stdio: options.stdio})
}

/** Where a cluster's known_hosts lives: beside hostkeys.json in its state dir (written with the first-boot files). */
export function knownHostsFile(stateDir: string): string {
  return path.join(stateDir, 'known_hosts')
}

/** A ~/.ssh/config stanza per machine: berth's key, berth's known_hosts, strict host-key checking. */
export function sshConfigText(options: {user: string; identity: string; knownHosts: string; machines: Machine[]; hostPrefix: string}): string {
  return options.machines.map((m) => [
    `Host ${options.hostPrefix}${m.name}`,
    `  HostName ${m.ip}`,
    `  User ${options.user}`,
    `  IdentityFile ${options.identity}`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${options.knownHosts}`,
    '  StrictHostKeyChecking yes',
    '',
  ].join('\n')).join('\n')
}

/** The ssh-config of a cluster; a usage error when berth never wrote its known_hosts. */
export async function sshConfigOf(target: Target, hostPrefix: string): Promise<string> {
  const knownHosts = knownHostsFile(target.stateDir)
  await access(knownHosts).catch(() => {
    throw new UsageError([{file: knownHosts, message: 'berth has written no known_hosts for this cluster here', fix: 'write the first-boot files with this state dir (`berth cluster new-cloud-config`), or pass --state-dir'}])
  })
  return sshConfigText({user: target.cluster.ssh.user, identity: path.resolve(target.identity), knownHosts, machines: target.cluster.machines, hostPrefix})
}
