import {constraintHolds, formatConstraint} from './constraint.js'
import type {MachineView, ServiceDemand} from './types.js'

/** Code-unit order, the same on every machine and locale. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** The list sorted by name; a list that is sorted already (as etcd returns keys) is copied, not sorted again. */
export function byName<T extends {name: string}>(list: readonly T[]): T[] {
  for (let k = 1; k < list.length; k++) {
    if (compare(list[k - 1]!.name, list[k]!.name) > 0) return [...list].sort((a, b) => compare(a.name, b.name))
  }
  return [...list]
}

/** Slack for sums of fractional reservations (0.1 + 0.2 CPUs fit in 0.3). */
const EPSILON = 1e-9

/** Which machines admit a demand: by index, and the ones that take new replicated copies (admitted, not draining). */
export interface Eligibility {
  admits: Uint8Array
  ready: Int32Array
}

/**
 * Where reservations stand on every machine during one placement, in typed arrays indexed
 * by the machine's place in name order (so the index is the name tie-break). Eligibility is
 * computed once per distinct roles-and-constraints, however many services share it.
 */
export class ClusterLoad {
  readonly machines: MachineView[]
  readonly index = new Map<string, number>()
  readonly memoryUsed: Float64Array
  readonly cpusUsed: Float64Array
  /** The larger of memory and cpus reserved, as a share of capacity. */
  readonly load: Float64Array
  readonly replicas: Int32Array
  /** Copies of the one service being worked on, per machine; zeroed again after each service. */
  readonly onService: Int32Array
  readonly memoryCapacity: Float64Array
  readonly cpusCapacity: Float64Array
  readonly #eligibility = new Map<string, Eligibility>()
  readonly #byDemand = new Map<ServiceDemand, Eligibility>()
  readonly #groups = new Map<string, {groupOf: Int32Array; count: number}>()

  constructor(machines: readonly MachineView[]) {
    this.machines = byName(machines)
    this.machines.forEach((m, i) => this.index.has(m.name) || this.index.set(m.name, i))
    const n = this.machines.length
    this.memoryUsed = new Float64Array(n)
    this.cpusUsed = new Float64Array(n)
    this.load = new Float64Array(n)
    this.replicas = new Int32Array(n)
    this.onService = new Int32Array(n)
    this.memoryCapacity = Float64Array.from(this.machines, (m) => m.capacity.memoryMb)
    this.cpusCapacity = Float64Array.from(this.machines, (m) => m.capacity.cpus)
  }

  /** Whether machine `i` has room for one more copy reserving `need`. */
  fits(i: number, need: ServiceDemand['resources']): boolean {
    return this.memoryUsed[i]! + need.memoryMb <= this.memoryCapacity[i]! + EPSILON && this.cpusUsed[i]! + need.cpus <= this.cpusCapacity[i]! + EPSILON
  }

  /** Counts one copy reserving `need` on machine `i`. */
  reserve(i: number, need: ServiceDemand['resources']): void {
    const memory = (this.memoryUsed[i]! += need.memoryMb)
    const cpus = (this.cpusUsed[i]! += need.cpus)
    this.replicas[i]! += 1
    this.load[i] = Math.max(share(memory, this.memoryCapacity[i]!), share(cpus, this.cpusCapacity[i]!))
  }

  /** The machines that admit the demand by role and constraints. */
  eligibility(demand: ServiceDemand): Eligibility {
    const known = this.#byDemand.get(demand)
    if (known) return known
    const key = demand.constraints.length === 0 ? demand.roles.join(',') : `${demand.roles.join(',')}\n${demand.constraints.map(formatConstraint).join('\n')}`
    let found = this.#eligibility.get(key)
    if (found) {
      this.#byDemand.set(demand, found)
      return found
    }
    const admits = Uint8Array.from(this.machines, (m) => (demand.roles.includes(m.role) && demand.constraints.every((c) => constraintHolds(c, m)) ? 1 : 0))
    const ready: number[] = []
    this.machines.forEach((m, i) => admits[i] && !m.draining && ready.push(i))
    found = {admits, ready: Int32Array.from(ready)}
    this.#eligibility.set(key, found)
    this.#byDemand.set(demand, found)
    return found
  }

  /** Each machine's group under a spread label: one per value, and one more for machines without the label. */
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
