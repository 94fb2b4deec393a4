import {appendAudit} from '../audit/append.js'
import {Chain} from '../cli/chain.js'
import type {Step} from '../cli/progress.js'
import {drainMachine, readyMachine, replicaRowsNow, replicatedOn, waitDrained} from '../cluster/drain.js'
import {machineKeys, type InstalledRecord} from '../layout/records.js'
import {machineNamed} from '../cluster/target.js'
import type {Cluster, Machine} from '../config/types.js'
import {BerthError} from '../errors.js'
import type {SharedEtcd} from '../etcd/client.js'
import {findMember} from '../etcd/members.js'
import {imageRef} from '../firstboot/model.js'
import {hostName, type MachineShells} from '../machine/shell.js'
import {nodeClusterFile} from '../firstboot/cluster-json.js'
import {removeInstalledCommand, runInstallerCommand, stopServicesCommand} from '../cluster/installed-commands.js'
import {type GateSources, waitHealthy} from './gate.js'
import {healthProblem, type HealthTarget} from './health.js'

/** Takes a machine out of a load balancer before its upgrade and puts it back after. */
export interface BalancerHooks {
  drain: (machine: Machine) => Promise<string | void>
  ready: (machine: Machine) => Promise<string | void>
}

/** What `cluster upgrade-machine` is asked to do. */
export interface UpgradeMachineRequest {
  cluster: Cluster
  machine: string
  /** A tag of cluster.yaml's installer repository, or an image reference; default cluster.yaml's installer image. */
  image?: string
  /** The flow's machines; the caller closes them once the flow is done. */
  machines: MachineShells
  /** The flow's etcd client, through the main machines (`etcdEndpoints(cluster)`); the caller closes it. */
  etcd: SharedEtcd
  etcdPrefix: string
  balancer?: BalancerHooks
  timeoutMs: number
}

/** The installer image an upgrade installs: `--image` as a tag of the configured repository, or a reference. */
export function targetImage(cluster: Cluster, image?: string): string {
  if (!image) return imageRef(cluster, cluster.installer.image)
  if (image.includes('/')) return imageRef(cluster, image)
  const configured = cluster.installer.image
  const repo = configured.lastIndexOf(':') > configured.lastIndexOf('/') ? configured.slice(0, configured.lastIndexOf(':')) : configured
  return imageRef(cluster, `${repo}:${image}`)
}

/**
 * The steps of upgrading one machine: check etcd, drain it from the balancer, stop its
 * agent and services politely, remove the installed system, run the chosen installer,
 * wait for the health gate, make it ready in the balancer. etcd on the machine is never
 * touched: it stays a member throughout.
 */
export function upgradeMachineSteps(request: UpgradeMachineRequest): {steps: Step[]; image: string} {
  const {cluster} = request
  const machine = machineNamed(cluster, request.machine, 'MACHINE')
  const image = targetImage(cluster, request.image)
  const prefix = cluster.unitPrefix
  const {balancer} = request
  const connect = async (): Promise<GateSources> => {
    const etcd = await request.etcd.client()
    return {etcd, records: await etcd.records(), prefix: request.etcdPrefix, expectedMembers: cluster.machines.filter((m) => m.role === 'main').length}
  }
  const shell = request.machines.on(machine)
  const run = async (what: string, command: string, stdin?: string) => (await shell.run(command, {stdin, as: what})).stdout.trim()

  const plan = new Chain({})
    .step(`Check etcd's health${machine.role === 'main' ? ` and ${machine.name}'s membership` : ''}`, async () => {
      const s = await connect()
      const members = await s.etcd.members()
      if (machine.role === 'main' && !findMember(members, machine.name) && !findMember(members, machine.ip)) throw new BerthError(`${machine.name} is not an etcd member; add it back with cluster add-machine before upgrading it`)
      const problem = healthProblem({machine: machine.name, members, expectedMembers: s.expectedMembers}, {})
      if (problem?.startsWith('etcd')) throw new BerthError(`not upgrading ${machine.name} while ${problem}`)
      // The gate waits for an installer record newer than this one.
      const target: HealthTarget = {version: image, previousAt: (await s.records.get<InstalledRecord>(machineKeys(machine.name, request.etcdPrefix).installed))?.at}
      return {note: `${members.length} members healthy`, target}
    })
    // An operator's own drain is left in place afterwards; one made here is undone at the end.
    .step(`Drain ${machine.name} of replicated work (its replicas move to other machines first)`, async () => {
      const s = await connect()
      const services = replicatedOn(await replicaRowsNow(s.records, prefix, s.prefix), machine.name)
      const drainedBefore = await drainMachine(s.records, machine.name, {prefix: s.prefix, reason: `upgrade to ${image}`})
      await waitDrained(s.records, machine.name, services, {timeoutMs: request.timeoutMs, unitPrefix: prefix, prefix: s.prefix})
      return {note: services.size === 0 ? 'no replicated services on it' : `${[...services].sort().join(', ')} run elsewhere`, drainedBefore}
    }, async () => {
      const s = await connect()
      const services = replicatedOn(await replicaRowsNow(s.records, prefix, s.prefix), machine.name)
      return `would mark ${machine.name} drained (reason: upgrade to ${image}) and ${services.size === 0 ? 'move nothing: no replicated services on it' : `wait until ${[...services].sort().join(', ')} run elsewhere`}`
    })
    .stepWhen(balancer !== undefined, `Drain ${machine.name} from the balancer`, async () => ({note: (await balancer?.drain(machine)) ?? undefined}), async () => `would take ${hostName(machine)} out of the balancer`)
    .step(`Stop ${machine.name}'s agent, then its services politely (SIGTERM, each service's stop timeout)`, async () => ({
      note: `stopped ${(await run('stop the agent and services', stopServicesCommand(prefix))) || 'no services'}`,
    }), async () => `would stop ${prefix}agent.service, then every service unit the agent wrote, on ${hostName(machine)}`)
    .step(`Remove ${machine.name}'s installed system (units, agent options, env files; etcd and secrets stay)`, async () => ({
      note: `removed ${(await run('remove the installed system', removeInstalledCommand(prefix))).split('\n').filter(Boolean).length} units`,
    }), async () => `would remove ${prefix}agent.service and the agent's units, /etc/berth/agent.json and /run/berth/*.env on ${hostName(machine)}`)
    .step(`Run the installer ${image} on ${machine.name}`, async () => {
      // cluster.json names the image the installer installs the agent from: point it at the target.
      const clusterJson = `${JSON.stringify(nodeClusterFile(cluster, image), null, 2)}\n`
      await run('write /etc/berth/cluster.json', 'umask 022 && cat > /etc/berth/cluster.json.new && mv /etc/berth/cluster.json.new /etc/berth/cluster.json', clusterJson)
      await run(`docker pull ${image} && systemctl start ${prefix}installer.service`, runInstallerCommand(prefix, imageRef(cluster, cluster.installer.image), image))
      return {}
    }, async () => `would write /etc/berth/cluster.json (installer image ${image}) on ${hostName(machine)}, pull ${image} and start ${prefix}installer.service`)
    .step(`Wait until ${machine.name} is healthy (etcd, installer record, agent converged, services active)`, async ({target}) => ({
      note: await waitHealthy(await connect(), machine.name, target, request.timeoutMs),
    }), async () => `would wait up to ${Math.round(request.timeoutMs / 1000)} s for version ${image}`)
    .stepWhen(balancer !== undefined, `Make ${machine.name} ready in the balancer`, async () => ({note: (await balancer?.ready(machine)) ?? undefined}), async () => `would put ${hostName(machine)} back into the balancer`)
    .step(`Take ${machine.name} back into placement (unless it was drained before the upgrade)`, async ({drainedBefore}) => {
      if (drainedBefore) return {note: 'left drained, as it was'}
      const s = await connect()
      await readyMachine(s.records, machine.name, s.prefix)
      return {}
    }, async () => {
      const s = await connect()
      const drained = await s.records.get<{since: string}>(machineKeys(machine.name, s.prefix).drain)
      return drained ? `would leave it drained: an operator drained it at ${drained.since}` : 'would take it back into placement'
    })
    .step(`Record ${machine.name}'s upgrade in the audit trail`, async () => {
      await appendAudit(await (await connect()).etcd.auditLog(request.etcdPrefix), {action: 'machine.upgrade', target: machine.name, detail: {image}})
      return {}
    })
  return {steps: plan.steps, image}
}
