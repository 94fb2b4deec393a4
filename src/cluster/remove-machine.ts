import path from 'node:path'

import {appendAudit} from '../audit/append.js'
import {Chain} from '../cli/chain.js'
import type {Step} from '../cli/progress.js'
import {removeMachineFromFile} from '../config/edit.js'
import type {Cluster} from '../config/types.js'
import {UnsafeOperationError} from '../errors.js'
import type {SharedEtcd} from '../etcd/client.js'
import {drainMachine, replicaRowsNow, replicatedOn, waitDrained} from './drain.js'
import {findMember} from '../etcd/members.js'
import {machineKeys} from '../layout/records.js'
import {etcdUrls} from '../firstboot/index.js'
import {type ExecResult, hostName, type MachineShells} from '../machine/shell.js'
import {stopServicesCommand} from './installed-commands.js'
import {checkRemove} from './safety.js'
import {etcdEndpoints, machineNamed} from './target.js'

/** What `cluster remove-machine` is asked to do. */
export interface RemoveMachineRequest {
  cluster: Cluster
  file: string
  existing: string
  old: string
  force: boolean
  /** Where the machine's own records live in etcd (`<prefix>/machines/<name>/`). */
  etcdPrefix: string
  /** The flow's machines; the caller closes them once the flow is done. */
  machines: MachineShells
  /** The flow's etcd client, through EXISTING and not OLD (removeMachineEndpoints); the caller closes it. */
  etcd: SharedEtcd
  warn: (message: string) => void
  /** How long the drain may wait for the machine's replicas to run elsewhere (default 120 s). */
  drainTimeoutMs?: number
}

/** The etcd endpoints a removal talks through: EXISTING's first when it is a main machine, never OLD's. */
export function removeMachineEndpoints(cluster: Cluster, existingName: string, oldName: string): string[] {
  const old = machineNamed(cluster, oldName, 'OLD')
  const existing = machineNamed(cluster, existingName, 'EXISTING')
  return [...new Set([
    ...(existing.role === 'main' && existing.name !== old.name ? [etcdUrls(cluster, existing.ip).client] : []),
    ...etcdEndpoints(cluster, old.name),
  ])]
}

/**
 * The steps of removing a machine: refuse when the etcd members left could not hold a
 * quorum (or it is the last one), stop its agent and services politely over SSH, remove
 * the member, stop its etcd for good, delete its records from etcd and drop it from
 * cluster.yaml.
 */
export function removeMachineSteps(request: RemoveMachineRequest): {steps: Step[]} {
  const {cluster} = request
  const old = machineNamed(cluster, request.old, 'OLD')
  const existing = machineNamed(cluster, request.existing, 'EXISTING')
  const machinePrefix = machineKeys(old.name, request.etcdPrefix).dir
  const client = () => request.etcd.client()
  // The machine being removed is often dead: an unreachable one reads as a failed command, not a failed step.
  const exec = async (command: string): Promise<ExecResult> => request.machines.on(old).exec(command).catch((error: Error) => ({code: null, stdout: '', stderr: error.message}))

  const plan = new Chain({})
    .step(`Check etcd's members, health and quorum through ${existing.name}`, async () => {
      const members = await (await client()).members()
      const member = findMember(members, old.name) ?? findMember(members, old.ip)
      if (!member) return {note: old.role === 'main' ? `${old.name} is not an etcd member (already removed)` : `${old.name} is a ${old.role}: no etcd member`, member}
      const verdict = checkRemove(members, member)
      if (!verdict.safe && (!verdict.overridable || !request.force)) {
        throw new UnsafeOperationError(`refusing to remove ${old.name}: ${verdict.reason}${verdict.overridable ? '; pass --force to remove it anyway' : ''}`)
      }
      if (!verdict.safe) request.warn(`removing ${old.name} although ${verdict.reason}`)
      return {note: `${members.filter((m) => m.healthy).length} of ${members.length} healthy`, member}
    })
    .step(`Drain ${old.name} of replicated work (its replicas move to other machines first)`, async () => {
      const records = await (await client()).records()
      const services = replicatedOn(await replicaRowsNow(records, cluster.unitPrefix, request.etcdPrefix), old.name)
      await drainMachine(records, old.name, {prefix: request.etcdPrefix, reason: 'removal'})
      if (services.size === 0) return {note: 'no replicated services on it'}
      // A dead machine's replicas move too (a drained machine is no candidate): only a cluster with no room is slow here.
      try {
        await waitDrained(records, old.name, services, {timeoutMs: request.drainTimeoutMs ?? 120_000, unitPrefix: cluster.unitPrefix, prefix: request.etcdPrefix})
      } catch (error) {
        request.warn(`${(error as Error).message}; removing ${old.name} anyway`)
        return {note: 'not every replica moved: see service ps'}
      }
      return {note: `${[...services].sort().join(', ')} run elsewhere`}
    }, async () => {
      const services = replicatedOn(await replicaRowsNow(await (await client()).records(), cluster.unitPrefix, request.etcdPrefix), old.name)
      return `would mark ${old.name} drained (reason: removal) and ${services.size === 0 ? 'move nothing: no replicated services on it' : `wait until ${[...services].sort().join(', ')} run elsewhere`}`
    })
    .step(`Stop ${old.name}'s agent, then its services politely (SIGTERM, each service's stop timeout)`, async () => {
      const result = await exec(stopServicesCommand(cluster.unitPrefix))
      if (result.code === 0) return {note: `stopped ${result.stdout.trim() || 'no services'}`}
      // A dead machine is the usual reason to remove one: that must not block its removal.
      request.warn(`could not stop the services on ${old.name} (${result.stderr.trim() || `exit ${result.code}`}); removing it anyway`)
      return {note: 'unreachable: skipped'}
    }, async () => `would stop ${cluster.unitPrefix}agent.service, then every service unit the agent wrote, on ${hostName(old)} (a failure is a warning)`)
    .step(`Remove ${old.name} from etcd's members`, async ({member}) => {
      if (!member) return {note: 'nothing to remove'}
      await (await client()).remove(member.id)
      return {note: `member ${member.id} removed`}
    }, async () => {
      const members = await (await client()).members()
      const found = findMember(members, old.name) ?? findMember(members, old.ip)
      return found ? `would remove member ${found.name || '(unnamed)'} (id ${found.id}, ${found.peerUrls[0] ?? 'no peer URL'})` : 'not a member: nothing to remove'
    })
    .step(`Stop ${old.name}'s etcd for good`, async () => {
      if (old.role !== 'main') return {note: 'not a member'}
      // A removed member exits by itself; disabling it keeps systemd from starting it again.
      const result = await exec('systemctl disable --now etcd.service')
      if (result.code === 0) return {note: 'stopped and disabled'}
      request.warn(`could not stop etcd on ${old.name} (${result.stderr.trim() || `exit ${result.code}`}); it was removed from the cluster and cannot rejoin it`)
      return {note: 'unreachable: skipped'}
    }, async () => (old.role === 'main' ? `would run \`systemctl disable --now etcd.service\` on ${hostName(old)}` : 'not a member'))
    .step(`Delete ${old.name}'s records from etcd`, async () => {
      await (await client()).deletePrefix(machinePrefix)
      return {}
    }, async () => `would delete every key under ${machinePrefix}`)
    .step(`Remove ${old.name} from ${path.basename(request.file)}`, async () => {
      await removeMachineFromFile(request.file, old.name)
      return {}
    }, async () => `would write ${request.file} without ${old.name}`)
    .step(`Record ${old.name}'s removal in the audit trail`, async () => {
      await appendAudit(await (await client()).auditLog(request.etcdPrefix), {action: 'machine.remove', target: old.name, detail: {ip: old.ip, role: old.role, ...(request.force ? {forced: 'yes'} : {})}})
      return {}
    })
  return {steps: plan.steps}
}
