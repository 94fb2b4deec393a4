import {Chain} from '../cli/chain.js'
import type {Step} from '../cli/progress.js'
import {checkAdd, checkRemove} from '../cluster/safety.js'
import {etcdEndpoints, machineNamed} from '../cluster/target.js'
import type {Cluster} from '../config/types.js'
import {UnsafeOperationError, UsageError} from '../errors.js'
import type {SharedEtcd} from '../etcd/client.js'
import {type MemberStatus, findMember} from '../etcd/members.js'
import {etcdUrls} from '../firstboot/index.js'
import {hostName, type MachineShells} from '../machine/shell.js'
import {startEtcdCommand, stopEtcdCommand, wipeAndJoinCommand} from './node-commands.js'

/** What `cluster repair-member` is asked to do. */
export interface RepairRequest {
  cluster: Cluster
  machine: string
  force: boolean
  /** The flow's machines; the caller closes them once the flow is done. */
  machines: MachineShells
  timeoutMs: number
  warn: (message: string) => void
  /** The flow's etcd client, through the other main machines (`etcdEndpoints(cluster, machine)`); the caller closes it. */
  etcd: SharedEtcd
}

/** The etcd endpoints a repair talks through: every main machine but MACHINE. */
export function repairMemberEndpoints(cluster: Cluster, machine: string): string[] {
  return etcdEndpoints(cluster, machineNamed(cluster, machine, 'MACHINE').name)
}

/**
 * The steps of repairing one member whose data is gone: with the quorum rules of
 * remove-machine and add-machine (src/cluster/safety.ts), stop its etcd, remove it from
 * the members, wipe its data dir and point it at the running cluster, add it back as a
 * learner, start it, and promote it once it has caught up.
 */
export function repairMemberSteps(request: RepairRequest): {steps: Step[]} {
  const {cluster} = request
  const machine = machineNamed(cluster, request.machine, 'MACHINE')
  if (machine.role !== 'main') {
    throw new UsageError([{file: cluster.file, path: 'MACHINE', message: `${machine.name} is a ${machine.role}, not an etcd member`, fix: 'name a machine with role main'}])
  }
  const peerUrl = etcdUrls(cluster, machine.ip).peer
  const host = hostName(machine)
  const client = () => request.etcd.client()
  const run = async (command: string) => {
    // The plan is built without reaching the machine (--dry-run): its shell is asked for at the first command.
    await request.machines.on(machine).run(command, {as: command.split('\n').at(-1) ?? command})
  }
  const refuseUnless = (verdict: ReturnType<typeof checkRemove>, what: string) => {
    if (!verdict.safe && (!verdict.overridable || !request.force)) throw new UnsafeOperationError(`refusing to ${what}: ${verdict.reason}${verdict.overridable ? '; pass --force to go on anyway' : ''}`)
    if (!verdict.safe) request.warn(`${what} although ${verdict.reason}`)
  }
  const memberNow = async (): Promise<MemberStatus | undefined> => {
    const members = await (await client()).members()
    return findMember(members, machine.name) ?? findMember(members, machine.ip)
  }

  const plan = new Chain({})
    .step(`Check etcd's members, health and quorum through the main machines other than ${machine.name}`, async () => {
      const members = await (await client()).members()
      const old = findMember(members, machine.name) ?? findMember(members, machine.ip)
      if (old) refuseUnless(checkRemove(members, old), `remove ${machine.name}'s member`)
      const left = members.filter((m) => m.id !== old?.id)
      refuseUnless(checkAdd(left, peerUrl), `add ${machine.name} back`)
      return {note: `${members.filter((m) => m.healthy).length} of ${members.length} healthy${old ? `; ${machine.name} is member ${old.id}${old.healthy ? '' : ` (${old.problem ?? 'unhealthy'})`}` : '; not a member now'}`, old}
    }, async () => {
      const members = await (await client()).members()
      return `would go on only if quorum holds without ${machine.name} and with it added back (through ${request.etcd.endpoints.join(', ')}): now ${members.filter((m) => m.healthy).length} of ${members.length} healthy`
    })
    .step(`Stop etcd on ${machine.name}`, async () => {
      await run(stopEtcdCommand())
      return {}
    }, async () => `would run \`${stopEtcdCommand()}\` on ${host}`)
    .step(`Remove ${machine.name}'s member (${peerUrl}) from etcd`, async ({old}) => {
      if (!old) return {note: 'not a member: nothing to remove'}
      await (await client()).remove(old.id)
      return {note: `member ${old.id} removed`}
    }, async () => {
      const old = await memberNow()
      return old ? `would remove member ${old.name || '(unnamed)'} (id ${old.id}, ${old.peerUrls[0] ?? 'no peer URL'})` : 'not a member: nothing to remove'
    })
    .step(`Wipe ${machine.name}'s etcd data dir and make it join the running cluster (state existing)`, async () => {
      await run(wipeAndJoinCommand(await initialCluster()))
      return {}
    }, async () => `would delete the data dir /etc/default/etcd names on ${host} and set ETCD_INITIAL_CLUSTER="${await initialCluster()}", ETCD_INITIAL_CLUSTER_STATE="existing" there`)
    .step(`Add ${machine.name} (${peerUrl}) back as an etcd learner`, async () => {
      const members = await (await client()).members()
      const learner = members.find((m) => m.peerUrls.includes(peerUrl))?.id ?? await (await client()).addLearner(peerUrl)
      return {note: `member ${learner}`, learner}
    }, async () => `would add a learner with peer URL ${peerUrl} (a member there already is reused)`)
    .step(`Start etcd on ${machine.name}, wait for it to catch up, then promote it to a voting member`, async ({learner}) => {
      await run(startEtcdCommand())
      await (await client()).promote(learner, request.timeoutMs)
      return {note: 'promoted'}
    }, async () => `would run \`${startEtcdCommand()}\` on ${host}, then promote the learner once it has caught up (up to ${request.timeoutMs / 1000} s)`)

  /** The voting members but this machine, then this machine: the cluster its wiped member joins. */
  async function initialCluster(): Promise<string> {
    const voters = (await (await client()).members()).filter((m) => !m.isLearner && m.peerUrls[0] !== peerUrl)
    return [...voters.map((m) => `${m.name}=${m.peerUrls[0]}`), `${machine.name}=${peerUrl}`].join(',')
  }
  return {steps: plan.steps}
}
