import {constraintHolds} from './constraint.js'
import {pendingReason, shortOf} from './pending.js'
import {type Assignment, type MachineView, type Pending, type Plan, type ServiceDemand, replicaId} from './types.js'

/**
 * The scheduler's placement, a pure function: desired services, live machines and the
 * current assignments in, every replica placed or pending out. No I/O, no clock, no
 * randomness; the same input in any order gives the same plan.
 *
 * 1. Keep every current assignment that is still valid (its machine is there and eligible,
 *    not draining unless the service is global, its slot within the count, maxPerMachine
 *    and capacity still hold), so a change moves only what it must.
 * 2. Place what is missing: global copies first (they have no other machine to go to), then
 *    replicated slots in order, each on the best eligible machine: fewest copies of the
 *    service in its spread group, then fewest copies of the service on the machine, then
 *    least loaded by reserved resources (the larger of memory and cpus as a share of its
 *    capacity), then fewest replicas in all, then the name.
 */
export function place(demands: readonly ServiceDemand[], machines: readonly MachineView[], current: readonly Assignment[]): Plan {
  const cluster = new ClusterLoad(machines)
  const ordered = [...demands].sort((a, b) => compare(a.name, b.name))
  const byService = currentByService(current)
  const globals = ordered.filter((d) => d.replicas === 'global')
  const replicated = ordered.filter((d) => d.replicas !== 'global')
  const kept = new Map<string, Map<string, number>>()
  for (const demand of [...globals, ...replicated]) kept.set(demand.name, keepValid(demand, byService.get(demand.name) ?? [], cluster))
  const results = new Map<string, {assignments: Assignment[]; pending: Pending[]}>()
  for (const demand of globals) results.set(demand.name, placeGlobal(demand, kept.get(demand.name)!, cluster))
  for (const demand of replicated) results.set(demand.name, placeReplicated(demand, kept.get(demand.name)!, cluster))
  const plan: Plan = {assignments: [], pending: []}
  for (const demand of ordered) {
    const result = results.get(demand.name)!
    plan.assignments.push(...result.assignments)
    plan.pending.push(...result.pending)
  }
  return plan
}

/** Code-unit order, the same on every machine and locale. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Where reservations stand on every machine, machines in name order (their index is the last tie-break). */
export class ClusterLoad {
  readonly machines: MachineView[]
  readonly index = new Map<string, number>()
  readonly memoryUsed: Float64Array
  readonly cpusUsed: Float64Array
  readonly replicas: Int32Array
  /** Per service being placed, its copies on each machine (cleared after each service). */
  readonly scratch: Int32Array
  readonly #groups = new Map<string, {groupOf: Int32Array; count: number}>()

  constructor(machines: readonly MachineView[]) {
    this.machines = [...machines].sort((a, b) => compare(a.name, b.name))
    this.machines.forEach((m, i) => this.index.has(m.name) || this.index.set(m.name, i))
    const n = this.machines.length
    this.memoryUsed = new Float64Array(n)
    this.cpusUsed = new Float64Array(n)
    this.replicas = new Int32Array(n)
    this.scratch = new Int32Array(n)
  }

  /** Whether machine `i` has room for one more copy reserving `resources` (a hair of slack for float sums like 0.1 + 0.2). */
  fits(i: number, resources: ServiceDemand['resources']): boolean {
    const {capacity} = this.machines[i]!
    return this.memoryUsed[i]! + resources.memoryMb <= capacity.memoryMb + 1e-9 && this.cpusUsed[i]! + resources.cpus <= capacity.cpus + 1e-9
  }

  reserve(i: number, resources: ServiceDemand['resources']): void {
    this.memoryUsed[i]! += resources.memoryMb
    this.cpusUsed[i]! += resources.cpus
    this.replicas[i]! += 1
  }

  /** The larger of memory and cpus reserved, as a share of the machine's capacity. */
  load(i: number): number {
    const {capacity} = this.machines[i]!
    return Math.max(share(this.memoryUsed[i]!, capacity.memoryMb), share(this.cpusUsed[i]!, capacity.cpus))
  }

  /** Each machine's group under a spread label: machines with the same value share one; machines without it form one more. */
  groups(label: string): {groupOf: Int32Array; count: number} {
    let found = this.#groups.get(label)
    if (found) return found
    const ids = new Map<string | undefined, number>()
    const groupOf = new Int32Array(this.machines.length)
    this.machines.forEach((m, i) => {
      const value = m.labels[label]
      if (!ids.has(value)) ids.set(value, ids.size)
      groupOf[i] = ids.get(value)!
    })
    found = {groupOf, count: ids.size}
    this.#groups.set(label, found)
    return found
  }
}

function share(used: number, capacity: number): number {
  if (used === 0) return 0
  return capacity > 0 ? used / capacity : Number.POSITIVE_INFINITY
}

/** Whether the machine's role and labels admit the service (draining aside). */
export function admits(demand: ServiceDemand, machine: MachineView): boolean {
  return demand.roles.includes(machine.role) && demand.constraints.every((c) => constraintHolds(c, machine))
}

/** Current assignments grouped by service, in replica order, then machine order (a duplicate keeps its first). */
function currentByService(current: readonly Assignment[]): Map<string, Assignment[]> {
  const byService = new Map<string, Assignment[]>()
  for (const assignment of current) {
    const list = byService.get(assignment.service)
    if (list) list.push(assignment)
    else byService.set(assignment.service, [assignment])
  }
  for (const list of byService.values()) list.sort((a, b) => compare(a.replica, b.replica) || compare(a.machine, b.machine))
  return byService
}

/** The slot of a replicated service's replica id, or undefined for an id that is not one of its slots. */
function slotOf(service: string, replica: string): number | undefined {
  const rest = replica.slice(service.length + 1)
  if (!replica.startsWith(`${service}.`) || !/^[1-9][0-9]*$/.test(rest)) return undefined
  return Number(rest)
}

/**
 * The current assignments of one service that still hold, replica → machine index, with
 * their reservations counted. Slots are kept lowest first, so a smaller maxPerMachine or
 * less capacity moves the highest slots.
 */
function keepValid(demand: ServiceDemand, current: readonly Assignment[], cluster: ClusterLoad): Map<string, number> {
  const kept = new Map<string, number>()
  const global = demand.replicas === 'global'
  const perMachine = new Map<number, number>()
  const candidates = global
    ? current.filter((a) => a.replica === replicaId(demand.name, a.machine))
    : current
      .map((a) => ({a, slot: slotOf(demand.name, a.replica)}))
      .filter((c): c is {a: Assignment; slot: number} => c.slot !== undefined && c.slot <= (demand.replicas as number))
      .sort((x, y) => x.slot - y.slot || compare(x.a.machine, y.a.machine))
      .map((c) => c.a)
  for (const assignment of candidates) {
    const i = cluster.index.get(assignment.machine)
    if (i === undefined || kept.has(assignment.replica)) continue
    const machine = cluster.machines[i]!
    if ((!global && machine.draining) || !admits(demand, machine)) continue
    const onMachine = perMachine.get(i) ?? 0
    if (onMachine >= (demand.maxPerMachine ?? Number.POSITIVE_INFINITY) || !cluster.fits(i, demand.resources)) continue
    perMachine.set(i, onMachine + 1)
    cluster.reserve(i, demand.resources)
    kept.set(assignment.replica, i)
  }
  return kept
}

/** One copy on every admitting machine, draining or not; a machine without room for it gets a pending copy. */
function placeGlobal(demand: ServiceDemand, kept: Map<string, number>, cluster: ClusterLoad): {assignments: Assignment[]; pending: Pending[]} {
  const assignments: Assignment[] = []
  const pending: Pending[] = []
  cluster.machines.forEach((machine, i) => {
    if (!admits(demand, machine)) return
    const replica = replicaId(demand.name, machine.name)
    if (!kept.has(replica)) {
      if (!cluster.fits(i, demand.resources)) {
        pending.push({replica, service: demand.name, reason: `${machine.name} has ${shortOf(cluster, i, demand.resources)}`})
        return
      }
      cluster.reserve(i, demand.resources)
    }
    assignments.push({replica, service: demand.name, machine: machine.name})
  })
  if (assignments.length === 0 && pending.length === 0) {
    // No machine to name a copy after: one entry under the service's name says why.
    pending.push({replica: demand.name, service: demand.name, reason: pendingReason(demand, cluster, {placed: 0, global: true})})
  }
  return {assignments, pending}
}

/** Slots 1..replicas: the kept ones where they are, each missing one on the best machine or pending. */
function placeReplicated(demand: ServiceDemand, kept: Map<string, number>, cluster: ClusterLoad): {assignments: Assignment[]; pending: Pending[]} {
  const count = demand.replicas as number
  const slots: (number | undefined)[] = []
  for (let slot = 1; slot <= count; slot++) slots.push(kept.get(replicaId(demand.name, slot)))
  const missing = slots.some((i) => i === undefined)
  if (missing) fillSlots(demand, slots, cluster)
  const assignments: Assignment[] = []
  const pending: Pending[] = []
  const placed = slots.filter((i) => i !== undefined).length
  let reason: string | undefined
  const onMachine = (i: number): number => slots.filter((s) => s === i).length
  slots.forEach((i, s) => {
    const replica = replicaId(demand.name, s + 1)
    if (i !== undefined) assignments.push({replica, service: demand.name, machine: cluster.machines[i]!.name})
    else pending.push({replica, service: demand.name, reason: (reason ??= pendingReason(demand, cluster, {placed, global: false, onMachine}))})
  })
  return {assignments, pending}
}

/** Fills the empty slots in order, each on the best machine by the rules of {@link place}. */
function fillSlots(demand: ServiceDemand, slots: (number | undefined)[], cluster: ClusterLoad): void {
  const eligible: number[] = []
  cluster.machines.forEach((m, i) => !m.draining && admits(demand, m) && eligible.push(i))
  const onMachine = cluster.scratch
  const spread = demand.spread === undefined ? undefined : cluster.groups(demand.spread)
  const inGroup = new Int32Array(spread?.count ?? 1)
  for (const i of slots) {
    if (i === undefined) continue
    onMachine[i]! += 1
    if (spread) inGroup[spread.groupOf[i]!]! += 1
  }
  const max = demand.maxPerMachine ?? Number.POSITIVE_INFINITY
  for (let s = 0; s < slots.length; s++) {
    if (slots[s] !== undefined) continue
    let best = -1
    let bestGroup = 0
    let bestLoad = 0
    for (const i of eligible) {
      if (onMachine[i]! >= max || !cluster.fits(i, demand.resources)) continue
      const group = spread ? inGroup[spread.groupOf[i]!]! : 0
      if (best >= 0) {
        if (group !== bestGroup) {
          if (group > bestGroup) continue
        } else if (onMachine[i] !== onMachine[best]) {
          if (onMachine[i]! > onMachine[best]!) continue
        } else {
          const load = cluster.load(i)
          if (load > bestLoad || (load === bestLoad && cluster.replicas[i]! >= cluster.replicas[best]!)) continue
        }
      }
      best = i
      bestGroup = group
      bestLoad = cluster.load(i)
    }
    if (best < 0) break // Nothing fits this slot, so nothing fits the ones after it.
    slots[s] = best
    onMachine[best]! += 1
    if (spread) inGroup[spread.groupOf[best]!]! += 1
    cluster.reserve(best, demand.resources)
  }
  for (const i of slots) if (i !== undefined) onMachine[i] = 0
}
