import type {Constraint} from '../spec/constraint.js'
import type {MachineRole} from '../spec/service.js'

/**
 * The scheduler's vocabulary, shared by its pure placement (placement.ts), its etcd wiring
 * (the leader that writes assignments) and the agents that run what is assigned to them.
 *
 * Replica ids are stable: `<service>.<slot>` (slot 1..replicas) for a replicated service,
 * `<service>.<machine>` for a global one. Service names hold no dot, so the service is
 * everything before the first one.
 */

/** A machine as the scheduler sees it: what it is, what it offers, whether it takes work. */
export interface MachineView {
  name: string
  role: MachineRole
  labels: Record<string, string>
  /** What its agent reports it can hold; reservations are counted against it. */
  capacity: {memoryMb: number; cpus: number}
  /** Drained machines keep global services and get no replicated ones. */
  draining: boolean
}


/** What one service asks of the cluster. */
export interface ServiceDemand {
  name: string
  /** A count for a replicated service, or one copy on every eligible machine. */
  replicas: number | 'global'
  roles: MachineRole[]
  constraints: Constraint[]
  /** Spread replicas across this label's values first. */
  spread?: string
  maxPerMachine?: number
  /** Reservations per replica. */
  resources: {memoryMb: number; cpus: number}
}

/** One replica placed on one machine. */
export interface Assignment {
  replica: string
  service: string
  machine: string
}

/** A replica that has no machine, and why (shown by `service ps`). */
export interface Pending {
  replica: string
  service: string
  reason: string
}

/** The placement's answer: every replica either placed or pending. */
export interface Plan {
  assignments: Assignment[]
  pending: Pending[]
}

/** The replica id of a slot of a replicated service, or of a global service's copy on a machine. */
export function replicaId(service: string, slotOrMachine: number | string): string {
  return `${service}.${slotOrMachine}`
}

/** The service a replica id belongs to. */
export function serviceOfReplica(replica: string): string {
  const dot = replica.indexOf('.')
  return dot < 0 ? replica : replica.slice(0, dot)
}

/** Replica ids in slot order: web.2 before web.10. */
export function slotOrder(a: string, b: string): number {
  const [na, nb] = [Number(a.slice(a.indexOf('.') + 1)), Number(b.slice(b.indexOf('.') + 1))]
  return Number.isFinite(na) && Number.isFinite(nb) ? na - nb : a < b ? -1 : 1
}
