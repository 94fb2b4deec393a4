import type {MachineRole} from '../agent/spec.js'
import {specDefaults} from '../agent/spec.js'
import {type AgentRecord, ETCD_PREFIX} from '../cluster/records.js'
import type {Cluster, Machine} from '../config/types.js'
import {replicaId} from '../scheduler/types.js'

/**
 * Which replicas of a service exist, on which machine, under which unit and container:
 * the one place that knows it, so that the scheduler's assignments can replace it. Today
 * every service runs as `<prefix><service>.service` / container `<prefix><service>` on
 * every machine of its roles, and its replica there is `<service>.<machine>`.
 */

/** One copy of a service on one machine, and the names it runs under there. */
export interface Replica {
  id: string
  service: string
  machine: Machine
  unit: string
  container: string
  /** Its unit's state as the machine's agent last reported it; `unknown` when the agent has no record. */
  state: string
}

/** What the cluster says runs where: desired services with their roles, and each machine's agent record. */
export interface ClusterView {
  services: Map<string, {roles: MachineRole[]}>
  agents: Map<string, AgentRecord>
  /** Where `services` came from: etcd, or cluster.yaml when etcd could not be read. */
  source: 'etcd' | 'cluster.yaml'
}

/** Every service name the view knows: desired ones and any an agent still reports. */
export function serviceNames(view: ClusterView): string[] {
  const names = new Set(view.services.keys())
  for (const record of view.agents.values()) for (const name of Object.keys(record.services)) names.add(name)
  return [...names].sort()
}

/** The replicas of `service`, in cluster.yaml's machine order: every machine of its roles, and any whose agent reports it. */
export function replicasOf(cluster: Cluster, view: ClusterView, service: string): Replica[] {
  const roles = view.services.get(service)?.roles ?? []
  return cluster.machines
    .filter((m) => roles.includes(m.role) || view.agents.get(m.name)?.services[service] !== undefined)
    .map((machine) => ({
      id: replicaId(service, machine.name),
      service,
      machine,
      unit: `${cluster.unitPrefix}${service}.service`,
      container: `${cluster.unitPrefix}${service}`,
      state: view.agents.get(machine.name)?.services[service] ?? (view.agents.has(machine.name) ? 'absent' : 'unknown'),
    }))
}

/** The view from cluster.yaml alone: its services (roles defaulted as the agent does), no agent records. */
export function viewFromClusterFile(cluster: Cluster): ClusterView {
  const services = new Map(Object.entries(cluster.services).map(([name, spec]) => [name, {roles: rolesOf(spec)}]))
  return {services, agents: new Map(), source: 'cluster.yaml'}
}

function rolesOf(spec: {roles?: unknown}): MachineRole[] {
  return Array.isArray(spec.roles) ? (spec.roles as MachineRole[]) : [...specDefaults.roles]
}

/**
 * Reads the view from etcd (`<prefix>/services/*` and the agents' records); when etcd
 * cannot be read, falls back to cluster.yaml's services and says why in `warning`.
 */
export async function readClusterView(cluster: Cluster, options: {endpoints: string[]; prefix?: string}): Promise<{view: ClusterView; warning?: string}> {
  const prefix = options.prefix ?? ETCD_PREFIX
  const {RecordStore} = await import('../etcd/records.js')
  const {readAllMachines} = await import('../provision/records-etcd.js')
  const store = await RecordStore.connect(options.endpoints)
  try {
    const [specs, machines] = await Promise.all([store.getAll<{roles?: unknown}>(`${prefix}/services/`, {lenient: true}), readAllMachines(store, prefix)])
    const services = new Map([...specs].map(([key, spec]) => [key.slice(`${prefix}/services/`.length), {roles: rolesOf(spec)}]))
    const agents = new Map([...machines].flatMap(([name, records]) => (records.agent ? [[name, records.agent] as const] : [])))
    return {view: {services, agents, source: 'etcd'}}
  } catch (error) {
    return {view: viewFromClusterFile(cluster), warning: `cannot read the services from etcd (${(error as Error).message}); using cluster.yaml's services`}
  } finally {
    store.close()
  }
}
