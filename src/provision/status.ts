import type {Cluster} from '../config/types.js'
import {EtcdCluster} from '../etcd/client.js'
import type {RecordStore} from '../etcd/records.js'
import {findMember, membership, type MemberStatus} from '../etcd/members.js'
import {ETCD_PREFIX, schedulerKeys, type ReplicaHealth} from '../layout/records.js'
import {etcdEndpoints} from '../cluster/target.js'
import {readAllMachines, type MachineRecords} from './records-etcd.js'

/**
 * `cluster status`: one row per machine from etcd alone (membership and health, the
 * installer's record, the agent's leased record), so it works from any provisioner that
 * reaches etcd. An agent whose lease ran out has no record: it is "down".
 */

/** One machine as status shows it. */
export interface MachineStatus {
  name: string
  ip: string
  role: string
  etcd: string
  /** Why its member is not healthy (also in `etcd`); the table prints it on a line of its own. */
  etcdProblem?: string
  installed?: {version: string; result: string; at: string; error?: string}
  agent: {state: 'converged' | 'converging' | 'down' | 'not installed'; lastPassAgeS?: number; version?: string; errors?: Record<string, string>}
  services: Record<string, string>
  /** Each service's health on the machine, as its agent last wrote it (empty from agents before health checks). */
  health: Record<string, ReplicaHealth>
  /** The replicas the scheduler assigned to it (what runs is in services). */
  assigned: string[]
}

/** The whole cluster: etcd's health and each machine. */
export interface ClusterStatus {
  cluster: string
  etcd: {healthy: number; members: number; error?: string}
  machines: MachineStatus[]
}

/** Reads etcd's members and every machine's records; an unreachable etcd is reported, not thrown. */
export async function gatherStatus(cluster: Cluster, options: {endpoints?: string[]; prefix?: string; now?: number} = {}): Promise<ClusterStatus> {
  const reader = await StatusReader.open(cluster, options)
  try {
    return await reader.read(options.now)
  } finally {
    reader.close()
  }
}

/** The cluster's status over one set of etcd connections, read as often as asked (waits poll it). */
export class StatusReader {
  private constructor(private readonly cluster: Cluster, private readonly etcd: EtcdCluster, private readonly store: RecordStore, private readonly prefix: string) {}

  static async open(cluster: Cluster, options: {endpoints?: string[]; prefix?: string} = {}): Promise<StatusReader> {
    const etcd = await EtcdCluster.connect(options.endpoints ?? etcdEndpoints(cluster), {timeoutMs: 2000})
    return new StatusReader(cluster, etcd, await etcd.records(), options.prefix ?? ETCD_PREFIX)
  }

  /** Closes the connections, the records' one with them. */
  close(): void {
    this.etcd.close()
  }

  async read(now = Date.now()): Promise<ClusterStatus> {
    let members: MemberStatus[] = []
    let records = new Map<string, MachineRecords>()
    let error: string | undefined
    let assignments: Map<string, {machine: string}> = new Map()
    try {
      ;[members, records, assignments] = await Promise.all([this.etcd.members(), readAllMachines(this.store, this.prefix), this.store.getAll<{machine: string}>(schedulerKeys(this.prefix).assignments, {lenient: true})])
    } catch (e) {
      error = (e as Error).message
    }
    const machines = this.cluster.machines.map((m): MachineStatus => {
      const member = findMember(members, m.name) ?? findMember(members, m.ip)
      const etcd = error ? {text: 'unknown', problem: undefined} : membership(member, m.role)
      const {installed, agent} = records.get(m.name) ?? {}
      const state = agent ? (agent.converged ? 'converged' : 'converging') : installed ? 'down' : 'not installed'
      return {
        name: m.name, ip: m.ip, role: m.role, etcd: etcd.text, ...(etcd.problem === undefined ? {} : {etcdProblem: etcd.problem}),
        installed: installed && {version: installed.version, result: installed.result, at: installed.at, error: installed.error},
        agent: agent ? {state, lastPassAgeS: Math.max(0, Math.round((now - Date.parse(agent.lastPass)) / 100) / 10), version: agent.version, errors: agent.errors} : {state},
        services: agent?.services ?? {},
        health: agent?.health ?? {},
        assigned: [...assignments].filter(([, a]) => a.machine === m.name).map(([key]) => key.slice(key.lastIndexOf('/') + 1)).sort(),
      }
    })
    return {cluster: this.cluster.name, etcd: {healthy: members.filter((x) => x.healthy).length, members: members.length, error}, machines}
  }
}

/** The status as the lines `cluster status` prints. */
export function statusLines(status: ClusterStatus): string[] {
  const lines = [`Cluster ${status.cluster}: etcd ${status.etcd.error ? `unreachable (${status.etcd.error})` : `${status.etcd.healthy}/${status.etcd.members} members healthy`}`]
  for (const m of status.machines) {
    const installed = m.installed ? `${m.installed.result === 'ok' ? 'installed' : 'install FAILED'} ${m.installed.version}` : 'not installed'
    const agent = m.agent.lastPassAgeS === undefined ? m.agent.state : `${m.agent.state} (last pass ${m.agent.lastPassAgeS} s ago)`
    // A problem is long ("no answer: etcd at … refused the connection"): its own line, not the column.
    const etcd = m.etcdProblem === undefined ? m.etcd : `${m.etcd.split(',')[0]}, unhealthy`
    lines.push(`  ${m.name.padEnd(10)} ${m.ip.padEnd(15)} ${m.role.padEnd(6)} etcd: ${etcd.padEnd(16)} ${installed.padEnd(30)} agent: ${agent}`)
    if (m.etcdProblem) lines.push(`      etcd member: ${m.etcdProblem}`)
    if (m.installed?.error) lines.push(`      install error: ${m.installed.error}`)
    const services = Object.entries(m.services).map(([name, state]) => `${name} ${state}${m.health[name] ? ` ${m.health[name].status}` : ''}`)
    if (services.length > 0) lines.push(`      services: ${services.join(', ')}`)
    lines.push(...healthLines(m.health))
    if (m.assigned.length > 0) lines.push(`      assigned: ${m.assigned.join(', ')}`)
    for (const [name, why] of Object.entries(m.agent.errors ?? {})) lines.push(`      ${name}: ${why}`)
  }
  return lines
}

/** A line for each copy that is not healthy and says why: `web: unhealthy (3 failures): GET /healthz ... answered 500`. */
function healthLines(health: Record<string, ReplicaHealth>): string[] {
  return Object.entries(health).filter(([, h]) => h.status !== 'healthy' && h.lastError).map(([name, h]) => `      ${name}: ${h.status}${h.failures > 0 ? ` (${h.failures} failures)` : ''}: ${h.lastError}`)
}
