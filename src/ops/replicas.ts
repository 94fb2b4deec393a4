import type {MachineRole} from '../spec/service.js'
import {specDefaults} from '../spec/service.js'
import {type AgentRecord, ETCD_PREFIX, parseServiceKey, schedulerKeys, servicesDir} from '../layout/records.js'
import type {Cluster, Machine} from '../config/types.js'
import {containerName, unitName} from '../layout/node.js'
import {replicasOf as replicaCount} from '../spec/quantities.js'
import {storedAssignments} from '../scheduler/inputs.js'
import {replicaId} from '../scheduler/types.js'

/**
 * Which replicas of a service exist, on which machine, under which unit and container: the
 * one place `logs` and `exec` ask. A global service runs as `<prefix><service>.service` /
 * container `<prefix><service>` on every machine of its roles, and its replica there is
 * `<service>.<machine>`; a replicated one's replicas (`<service>.<slot>`, unit and container
 * `<prefix><service>.<slot>`) are where the scheduler's assignments put them.
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
  /** Desired services: their roles, and for a replicated one its replicas' machines from the assignments. */
  services: Map<string, {roles: MachineRole[]; assigned?: Map<string, string>}>
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
  const assigned = view.services.get(service)?.assigned
  if (assigned) return assignedReplicas(cluster, view, service, assigned)
  const roles = view.services.get(service)?.roles ?? []
  return cluster.machines
    .filter((m) => roles.includes(m.role) || view.agents.get(m.name)?.services[service] !== undefined)
    .map((machine) => ({
      id: replicaId(service, machine.name),
      service,
      machine,
      unit: unitName(cluster.unitPrefix, service),
      container: containerName(cluster.unitPrefix, service),
      state: view.agents.get(machine.name)?.services[service] ?? (view.agents.has(machine.name) ? 'absent' : 'unknown'),
    }))
}

/** A replicated service's replicas, in slot order, each on the machine the scheduler assigned it. */
function assignedReplicas(cluster: Cluster, view: ClusterView, service: string, assigned: Map<string, string>): Replica[] {
  const slot = (id: string): number => Number(id.slice(id.indexOf('.') + 1))
  return [...assigned].sort(([a], [b]) => slot(a) - slot(b)).flatMap(([id, name]) => {
    const machine = cluster.machines.find((m) => m.name === name)
    if (!machine) return []
    const agent = view.agents.get(name)
    return [{id, service, machine, unit: unitName(cluster.unitPrefix, id), container: containerName(cluster.unitPrefix, id), state: agent?.services[id] ?? (agent ? 'absent' : 'unknown')}]
  })
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
    const [specs, machines, assignments] = await Promise.all([
      store.getAll<{roles?: unknown; mode?: 'global' | 'replicated'; replicas?: number}>(servicesDir(prefix), {lenient: true}),
      readAllMachines(store, prefix),
      store.getAll<unknown>(schedulerKeys(prefix).assignments, {lenient: true}),
    ])
    const placed = storedAssignments(Object.fromEntries([...assignments].map(([k, v]) => [k, JSON.stringify(v)])), prefix)
    const services = new Map([...specs].map(([key, spec]) => {
      const name = parseServiceKey(key, prefix) ?? key
      const assigned = replicaCount(spec) === 'global' ? undefined : new Map(placed.filter((a) => a.service === name).map((a) => [a.replica, a.machine]))
      return [name, {roles: rolesOf(spec), ...(assigned ? {assigned} : {})}]
    }))
    const agents = new Map([...machines].flatMap(([name, records]) => (records.agent ? [[name, records.agent] as const] : [])))
    return {view: {services, agents, source: 'etcd'}}
  } catch (error) {
    return {view: viewFromClusterFile(cluster), warning: `cannot read the services from etcd (${(error as Error).message}); using cluster.yaml's services`}
  } finally {
    store.close()
  }
}
