import * as Flags from '@oclif/core/flags'

import {openerShells, shellOpener} from '../cluster/remote.js'
import {etcdEndpoints} from '../cluster/target.js'
import {resolveTarget, type Target, targetFlags} from '../provision/target.js'
import type {MachineShells} from '../machine/shell.js'
import {type ClusterView, readClusterView} from './replicas.js'

/**
 * What every day-two command starts from: the cluster (cluster.yaml via -c, or a local
 * cluster by name), SSH to its machines with the host keys berth generated, and, for the
 * service commands, the view of which services run where.
 */

/** The cluster flags, and --etcd for the commands that read which services run where. */
export const opsFlags = {
  ...targetFlags,
  etcd: Flags.string({description: 'etcd client URL to read the services from (repeatable; default: every main machine\'s).', multiple: true}),
}

/** `-t, --tty`: force a pty on (or, with --no-tty, off) for `ssh` and `service exec`. */
export const ttyFlag = Flags.boolean({char: 't', description: 'Ask for a terminal (default: for a shell when stdin is one); --no-tty never.', allowNo: true})

/** `--host-prefix` of the ssh-config commands. */
export const hostPrefixFlag = Flags.string({description: 'Prefix of each Host name.', default: 'berth-'})

/** A cluster and its machines over SSH for one command (host keys verified, keys read once); the command closes `machines`. */
export interface OpsTarget extends Target {
  machines: MachineShells
}

/**
 * Resolves the cluster flags and prepares SSH to its machines: the key and host keys are
 * read now (an unreadable key is bad usage before anything runs); each machine is
 * connected on its first command.
 */
export async function opsTarget(flags: Parameters<typeof resolveTarget>[0]): Promise<OpsTarget> {
  const target = await resolveTarget(flags)
  const opener = await shellOpener(target.cluster, {identity: target.identity, stateDir: target.stateDir})
  return {...target, machines: openerShells(opener)}
}

/** Which services run where, from etcd (or cluster.yaml, with a warning on stderr, when etcd cannot be read). */
export async function clusterView(target: Target, etcd?: string[]): Promise<ClusterView> {
  const {view, warning} = await readClusterView(target.cluster, {endpoints: etcd?.length ? etcd : etcdEndpoints(target.cluster)})
  if (warning) process.stderr.write(`berth: warning: ${warning}\n`)
  return view
}
