import type {Cluster} from '../config/types.js'
import {machineNamed} from '../cluster/target.js'
import {UsageError} from '../errors.js'
import {type ClusterView, type Replica, replicasOf, serviceNames} from './replicas.js'

/**
 * Turning the names an operator types (a service, `--machine`, `--replica`) into replicas;
 * an unknown name is bad usage that lists the names there are.
 */

/** The replicas of a service the view knows, or a usage error listing the services. */
export function serviceReplicas(cluster: Cluster, view: ClusterView, service: string): Replica[] {
  const names = serviceNames(view)
  if (!names.includes(service)) {
    throw new UsageError([{path: service, message: `no service of that name in cluster ${cluster.name} (read from ${view.source})`, fix: names.length > 0 ? `use one of: ${names.join(', ')}` : 'deploy one first with `berth service deploy`'}])
  }
  return replicasOf(cluster, view, service)
}

/** The replicas left by `--machine` and `--replica` (each repeatable); unknown names are usage errors. */
export function filterReplicas(cluster: Cluster, replicas: Replica[], filter: {machine?: string[]; replica?: string[]}): Replica[] {
  const machines = (filter.machine ?? []).map((m) => machineNamed(cluster, m, '--machine').name)
  const unknown = (filter.replica ?? []).filter((id) => !replicas.some((r) => r.id === id))
  if (unknown.length > 0) {
    throw new UsageError(unknown.map((id) => ({path: '--replica', message: `${id} is not a replica of ${replicas[0]?.service ?? 'this service'}`, fix: `use one of: ${replicas.map((r) => r.id).join(', ') || '(none)'}`})))
  }
  const chosen = replicas.filter((r) => (machines.length === 0 || machines.includes(r.machine.name)) && (!filter.replica?.length || filter.replica.includes(r.id)))
  if (chosen.length === 0 && machines.length > 0) {
    throw new UsageError([{path: '--machine', message: `${replicas[0]?.service ?? 'the service'} has no replica on ${machines.join(', ')}`, fix: `its replicas run on: ${[...new Set(replicas.map((r) => r.machine.name))].join(', ') || '(none)'}`}])
  }
  return chosen
}

/** The one replica `exec` enters: the one named, or the first running one on the machine named, or the first running one. */
export function oneReplica(cluster: Cluster, replicas: Replica[], filter: {machine?: string; replica?: string}): Replica {
  const chosen = filterReplicas(cluster, replicas, {machine: filter.machine ? [filter.machine] : [], replica: filter.replica ? [filter.replica] : []})
  const pick = chosen.find((r) => r.state === 'active') ?? chosen[0]
  if (!pick) throw new UsageError([{path: replicas[0]?.service ?? 'service', message: 'has no replica on any machine', fix: 'check `berth cluster status`'}])
  return pick
}
