import {ClusterLoad, byName} from './load.js'
import {pendingReason, shortOf} from './pending.js'
import {type Assignment, type MachineView, type Plan, type ServiceDemand, replicaId} from './types.js'

/**
 * The scheduler's placement, a pure function: desired services, live machines and the
 * current assignments in, every replica placed or pending out. No I/O, no clock, no
 * randomness; the same input in any order gives the same plan.
 *
 * 1. Keep every current assignment that still holds (its machine is there and admits the
 *    service, is not draining unless the service is global, its slot is within the count,
 *    maxPerMachine and capacity still hold), so a change moves only what it must.
 * 2. Place what is missing: global copies first (they have no other machine to go to), then
 *    replicated slots in order, each on the best machine: fewest copies of the service in
 *    its spread group, then fewest copies of the service on the machine, then least loaded
 *    by reserved resources (the larger of memory and cpus as a share of its capacity), then
 *    fewest replicas in all, then the name.
 */
export function place(demands: readonly ServiceDemand[], machines: readonly MachineView[], current: readonly Assignment[]): Plan {
  const cluster = new ClusterLoad(machines)
  const ordered = byName(demands)
  const byService = currentByService(current)
  const globals = ordered.filter((d) => d.replicas === 'global')
  const replicated = ordered.filter((d) => d.replicas !== 'global')
  const slots = new Map<string, Int32Array>()
  for (const demand of globals) slots.set(demand.name, keepGlobal(demand, byService.get(demand.name) ?? [], cluster))
  for (const demand of replicated) slots.set(demand.name, keepReplicated(demand, byService.get(demand.name) ?? [], cluster))
  const results = new Map<string, Plan>()
  const reasons: (() => void)[] = []
  for (const demand of globals) results.set(demand.name, placeGlobal(demand, slots.get(demand.name)!, cluster, reasons))
  for (const demand of replicated) results.set(demand.name, placeReplicated(demand, slots.get(demand.name)!, cluster, reasons))
  // Reasons describe the cluster as placed, so a replan of this plan gives the same words.
  for (const explain of reasons) explain()
  const plan: Plan = {assignments: [], pending: []}
  for (const demand of ordered) {
    const result = results.get(demand.name)!
    for (const a of result.assignments) plan.assignments.push(a)
    for (const p of result.pending) plan.pending.push(p)
  }
  return plan
}

/** Current assignments grouped by service. */
function currentByService(current: readonly Assignment[]): Map<string, Assignment[]> {
  const byService = new Map<string, Assignment[]>()
  for (const assignment of current) {
    const list = byService.get(assignment.service)
    if (list) list.push(assignment)
    else byService.set(assignment.service, [assignment])
  }
  return byService
}

/** What comes after `<service>.` in a replica id of the service, or undefined. */
function idTail(service: string, replica: string): string | undefined {
  const n = service.length
  return replica.length > n + 1 && replica.charCodeAt(n) === 46 && replica.startsWith(service) ? replica.slice(n + 1) : undefined
}

/** The slot of a replicated service's replica id (`web.3` → 3), or 0 for an id that is not one of its slots; read without making strings. */
function slotOf(service: string, replica: string): number {
  const start = service.length + 1
  if (replica.length <= start || replica.length > start + 9 || replica.charCodeAt(start - 1) !== 46 || !replica.startsWith(service)) return 0
  let slot = 0
  for (let k = start; k < replica.length; k++) {
    const digit = replica.charCodeAt(k) - 48
    if (digit < 0 || digit > 9 || (digit === 0 && k === start)) return 0
    slot = slot * 10 + digit
  }
  return slot
}

/** Machine index per global copy that still holds (-1 for none), its reservation counted. */
function keepGlobal(demand: ServiceDemand, current: readonly Assignment[], cluster: ClusterLoad): Int32Array {
  const kept = new Int32Array(cluster.machines.length).fill(-1)
  const {admits} = cluster.eligibility(demand)
  for (const assignment of current) {
    const i = cluster.index.get(assignment.machine)
    if (i === undefined || kept[i]! >= 0 || idTail(demand.name, assignment.replica) !== assignment.machine) continue
    if (!admits[i] || !cluster.fits(i, demand.resources)) continue
    cluster.reserve(i, demand.resources)
    kept[i] = i
  }
  return kept
}

/**
 * Machine index per slot (slot 1 at 0; -1 for none) of the current assignments that still
 * hold, their reservations counted. Lower slots are kept first, so a smaller maxPerMachine
 * or less capacity moves the highest ones; of two machines claiming one slot, the first by
 * name keeps it.
 */
function keepReplicated(demand: ServiceDemand, current: readonly Assignment[], cluster: ClusterLoad): Int32Array {
  const count = demand.replicas as number
  const claims = new Int32Array(count).fill(-1)
  for (const assignment of current) {
    const slot = slotOf(demand.name, assignment.replica)
    const i = cluster.index.get(assignment.machine)
    if (slot > 0 && slot <= count && i !== undefined && (claims[slot - 1]! < 0 || i < claims[slot - 1]!)) claims[slot - 1] = i
  }
  const {admits} = cluster.eligibility(demand)
  const max = demand.maxPerMachine ?? Number.POSITIVE_INFINITY
  const onService = cluster.onService
  const slots = claims.map((i) => {
    if (i < 0 || !admits[i] || cluster.machines[i]!.draining || onService[i]! >= max || !cluster.fits(i, demand.resources)) return -1
    onService[i]! += 1
    cluster.reserve(i, demand.resources)
    return i
  })
  for (const i of slots) if (i >= 0) onService[i] = 0
  return slots
}

/** One copy on every admitting machine, draining or not; a machine without room for it gets a pending copy. */
function placeGlobal(demand: ServiceDemand, kept: Int32Array, cluster: ClusterLoad, reasons: (() => void)[]): Plan {
  const plan: Plan = {assignments: [], pending: []}
  const {admits} = cluster.eligibility(demand)
  cluster.machines.forEach((machine, i) => {
    if (!admits[i]) return
    const replica = replicaId(demand.name, machine.name)
    if (kept[i]! < 0) {
      if (!cluster.fits(i, demand.resources)) {
        const pending = {replica, service: demand.name, reason: ''}
        plan.pending.push(pending)
        reasons.push(() => (pending.reason = `${machine.name} has ${shortOf(cluster, i, demand.resources)}`))
        return
      }
      cluster.reserve(i, demand.resources)
    }
    plan.assignments.push({replica, service: demand.name, machine: machine.name})
  })
  if (plan.assignments.length === 0 && plan.pending.length === 0) {
    // No machine to name a copy after: one entry under the service's name says why.
    const pending = {replica: demand.name, service: demand.name, reason: ''}
    plan.pending.push(pending)
    reasons.push(() => (pending.reason = pendingReason(demand, cluster, {placed: 0, onService: () => 0})))
  }
  return plan
}

/** Slots 1..replicas: the kept ones where they are, each missing one on the best machine or pending. */
function placeReplicated(demand: ServiceDemand, slots: Int32Array, cluster: ClusterLoad, reasons: (() => void)[]): Plan {
  if (slots.includes(-1)) fillSlots(demand, slots, cluster)
  const plan: Plan = {assignments: [], pending: []}
  slots.forEach((i, s) => {
    const replica = replicaId(demand.name, s + 1)
    if (i >= 0) plan.assignments.push({replica, service: demand.name, machine: cluster.machines[i]!.name})
    else plan.pending.push({replica, service: demand.name, reason: ''})
  })
  if (plan.pending.length > 0) {
    reasons.push(() => {
      const reason = pendingReason(demand, cluster, {placed: plan.assignments.length, onService: (m) => slots.filter((j) => j === m).length})
      for (const pending of plan.pending) pending.reason = reason
    })
  }
  return plan
}

/** Fills the empty slots in order, each on the best machine by the rules of {@link place}. */
function fillSlots(demand: ServiceDemand, slots: Int32Array, cluster: ClusterLoad): void {
  const {ready} = cluster.eligibility(demand)
  const {onService, load, replicas, memoryUsed, cpusUsed, memoryCapacity, cpusCapacity} = cluster
  const spread = demand.spread === undefined ? undefined : cluster.groups(demand.spread)
  const groupOf = spread?.groupOf
  const inGroup = new Int32Array(spread?.count ?? 1)
  for (const i of slots) {
    if (i < 0) continue
    onService[i]! += 1
    if (groupOf) inGroup[groupOf[i]!]! += 1
  }
  const max = demand.maxPerMachine ?? Number.POSITIVE_INFINITY
  // Capacities are compared with the slack of ClusterLoad.fits.
  const memory = demand.resources.memoryMb - 1e-9
  const cpus = demand.resources.cpus - 1e-9
  for (let s = 0; s < slots.length; s++) {
    if (slots[s]! >= 0) continue
    let best = -1
    let bestGroup = 0
    let bestOn = 0
    for (let k = 0; k < ready.length; k++) {
      const i = ready[k]!
      const on = onService[i]!
      if (on >= max || memoryUsed[i]! + memory > memoryCapacity[i]! || cpusUsed[i]! + cpus > cpusCapacity[i]!) continue
      const group = groupOf ? inGroup[groupOf[i]!]! : 0
      if (best >= 0) {
        if (group > bestGroup) continue
        if (group === bestGroup) {
          if (on > bestOn) continue
          if (on === bestOn && (load[i]! > load[best]! || (load[i] === load[best] && replicas[i]! >= replicas[best]!))) continue
        }
      }
      best = i
      bestGroup = group
      bestOn = on
    }
    if (best < 0) break // Nothing fits this slot, so nothing fits the ones after it.
    slots[s] = best
    onService[best]! += 1
    if (groupOf) inGroup[groupOf[best]!]! += 1
    cluster.reserve(best, demand.resources)
  }
  for (const i of slots) if (i >= 0) onService[i] = 0
}
