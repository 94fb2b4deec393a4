import {constraintHolds, formatConstraint} from './constraint.js'
import type {ClusterLoad} from './load.js'
import type {MachineView, ServiceDemand} from './types.js'

/**
 * Why a replica has no machine, in words an operator can act on: the first filter that
 * leaves no machine (roles, each constraint in order, draining, maxPerMachine, capacity).
 * Runs only for replicas that could not be placed, so it may look at every machine.
 */
export function pendingReason(demand: ServiceDemand, cluster: ClusterLoad, context: {placed: number; onService: (i: number) => number}): string {
  const withRole = cluster.machines.filter((m) => demand.roles.includes(m.role))
  if (withRole.length === 0) return `no machine with role ${demand.roles.join(' or ')}`
  let admitted: MachineView[] = withRole
  for (const [n, constraint] of demand.constraints.entries()) {
    const next = admitted.filter((m) => constraintHolds(constraint, m))
    if (next.length > 0) {
      admitted = next
      continue
    }
    const text = formatConstraint(constraint)
    if (!withRole.some((m) => constraintHolds(constraint, m))) {
      const anyRole = cluster.machines.some((m) => constraintHolds(constraint, m))
      return anyRole ? `constraint ${text} matches no machine with role ${demand.roles.join(' or ')}` : `constraint ${text} matches no machine`
    }
    return `constraint ${text} matches no machine that also meets ${demand.constraints.slice(0, n).map(formatConstraint).join(' and ')}`
  }
  // A global copy is pending only on a machine it names (placeGlobal), so this is for completeness.
  if (demand.replicas === 'global') return 'no eligible machine'
  const ready = admitted.filter((m) => !m.draining)
  if (ready.length === 0) return `every eligible machine is draining (${names(admitted)})`
  const indexes = ready.map((m) => cluster.index.get(m.name)!)
  const room = indexes.filter((i) => context.onService(i) < (demand.maxPerMachine ?? Number.POSITIVE_INFINITY))
  if (room.length === 0) {
    return `maxPerMachine ${demand.maxPerMachine} reached on every eligible machine (${context.placed} of ${demand.replicas} replicas placed)`
  }
  return capacityReason(demand, cluster, room)
}

/** The resource no machine has enough of, with the machine that comes closest. */
function capacityReason(demand: ServiceDemand, cluster: ClusterLoad, indexes: number[]): string {
  const need = demand.resources
  const memoryFree = (i: number): number => cluster.machines[i]!.capacity.memoryMb - cluster.memoryUsed[i]!
  const cpusFree = (i: number): number => cluster.machines[i]!.capacity.cpus - cluster.cpusUsed[i]!
  const most = (free: (i: number) => number): number => indexes.reduce((best, i) => (free(i) > free(best) ? i : best))
  if (!indexes.some((i) => memoryFree(i) + 1e-9 >= need.memoryMb)) {
    const best = most(memoryFree)
    return `no machine has ${mb(need.memoryMb)} memory free (best: ${cluster.machines[best]!.name} with ${mb(memoryFree(best))})`
  }
  if (!indexes.some((i) => cpusFree(i) + 1e-9 >= need.cpus)) {
    const best = most(cpusFree)
    return `no machine has ${cpus(need.cpus)} free (best: ${cluster.machines[best]!.name} with ${cpus(cpusFree(best))})`
  }
  const best = most((i) => Math.min(memoryFree(i) / Math.max(need.memoryMb, 1e-9), cpusFree(i) / Math.max(need.cpus, 1e-9)))
  return `no machine has both ${mb(need.memoryMb)} memory and ${cpus(need.cpus)} free (best: ${cluster.machines[best]!.name} with ${mb(memoryFree(best))} and ${cpus(cpusFree(best))})`
}

/** What machine `i` lacks for one more copy: `128 MB memory free, 256 MB reserved per copy`. */
export function shortOf(cluster: ClusterLoad, i: number, need: ServiceDemand['resources']): string {
  const machine = cluster.machines[i]!
  const memoryFree = machine.capacity.memoryMb - cluster.memoryUsed[i]!
  if (memoryFree + 1e-9 < need.memoryMb) return `${mb(memoryFree)} memory free, and each copy reserves ${mb(need.memoryMb)}`
  return `${cpus(machine.capacity.cpus - cluster.cpusUsed[i]!)} free, and each copy reserves ${cpus(need.cpus)}`
}

function names(machines: readonly MachineView[]): string {
  const shown = machines.slice(0, 3).map((m) => m.name).join(', ')
  return machines.length > 3 ? `${shown} and ${machines.length - 3} more` : shown
}

function mb(value: number): string {
  return `${round(Math.max(value, 0))} MB`
}

function cpus(value: number): string {
  const n = round(Math.max(value, 0))
  return `${n} CPU${n === 1 ? '' : 's'}`
}

/** At most two decimals, trailing zeros dropped. */
function round(value: number): number {
  return Math.round(value * 100) / 100
}
