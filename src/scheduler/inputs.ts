import {type AssignmentRecord, ETCD_PREFIX, type MachineFacts, parseAssignmentKey, parseMachineKey} from '../layout/records.js'
import type {Assignment, MachineView, Plan} from './types.js'

/**
 * The pure half of the scheduler's wiring: from what etcd holds (machines' facts, which
 * agents are alive, drains, the current assignments) to placement's inputs, and from its
 * plan back to the writes that make etcd say it. The leader (leader.ts) only reads and
 * commits.
 */

/** One machine as etcd shows it to the leader. */
export interface MachineState {
  name: string
  facts: MachineFacts
  /** Its agent's leased record exists. */
  alive: boolean
  draining: boolean
  /** When a leader first saw it without its agent record (its `missing` key), ms. */
  missingSince?: number
}

/** Machines the leader has seen without an agent record, and since when (ms). */
export type MissingSince = Map<string, number>

/**
 * Placement's machines: the alive ones and those gone for less than `lostAfterMs` (their
 * replicas stay); the rest are lost. A machine's clock starts at its stored `missing` time
 * when an earlier leader saw it go; `marks` are the `missing` keys to write (first seen
 * gone) and to delete (back).
 */
export function machineViews(states: readonly MachineState[], missing: MissingSince, now: number, lostAfterMs: number): {views: MachineView[]; lost: string[]; recheckInMs?: number; marks: {put: Array<[string, number]>; delete: string[]}} {
  const views: MachineView[] = []
  const lost: string[] = []
  const marks: {put: Array<[string, number]>; delete: string[]} = {put: [], delete: []}
  let recheckInMs: number | undefined
  for (const m of [...states].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (m.alive) {
      missing.delete(m.name)
      if (m.missingSince !== undefined) marks.delete.push(m.name)
    } else if (!missing.has(m.name)) missing.set(m.name, Math.min(m.missingSince ?? now, now))
    if (!m.alive && m.missingSince === undefined) marks.put.push([m.name, missing.get(m.name)!])
    const goneMs = m.alive ? 0 : now - missing.get(m.name)!
    if (goneMs >= lostAfterMs) {
      lost.push(m.name)
      continue
    }
    if (!m.alive) recheckInMs = Math.min(recheckInMs ?? Infinity, lostAfterMs - goneMs)
    views.push({name: m.name, role: m.facts.role, labels: m.facts.labels, capacity: m.facts.capacity, draining: m.draining})
  }
  for (const name of missing.keys()) if (!states.some((m) => m.name === name)) missing.delete(name)
  return {views, lost, recheckInMs, marks}
}

/** A current assignment as read from etcd. */
export interface StoredAssignment extends Assignment {
  record: AssignmentRecord
}

/** The writes that turn the current assignments into the plan's: a put per new or changed replica, a delete per replica gone. */
export interface AssignmentWrites {
  puts: {service: string; replica: string; record: AssignmentRecord}[]
  deletes: {service: string; replica: string}[]
}

/** Diffs the plan against etcd; `specHashes` names each replica's spec hash (the rollout's choice); `since` is kept while a replica stays on its machine. */
export function assignmentWrites(current: readonly StoredAssignment[], plan: Plan, specHashes: ReadonlyMap<string, string>, now: string): AssignmentWrites {
  const byReplica = new Map(current.map((a) => [a.replica, a]))
  const planned = new Set(plan.assignments.map((a) => a.replica))
  const puts: AssignmentWrites['puts'] = []
  for (const a of [...plan.assignments].sort((x, y) => (x.replica < y.replica ? -1 : 1))) {
    const was = byReplica.get(a.replica)
    const specHash = specHashes.get(a.replica) ?? ''
    if (was?.machine === a.machine && was.record.specHash === specHash) continue
    puts.push({service: a.service, replica: a.replica, record: {machine: a.machine, specHash, since: was?.machine === a.machine ? was.record.since : now}})
  }
  const deletes = current.filter((a) => !planned.has(a.replica)).map(({service, replica}) => ({service, replica})).sort((x, y) => (x.replica < y.replica ? -1 : 1))
  return {puts, deletes}
}

/** Every machine with facts, alive when its agent record exists, draining when its drain key does. */
export function machineStates(values: Record<string, string>, prefix = ETCD_PREFIX): MachineState[] {
  const byName = new Map<string, {facts?: MachineFacts; alive: boolean; draining: boolean; missingSince?: number}>()
  for (const [key, text] of Object.entries(values)) {
    const parsed = parseMachineKey(key, prefix)
    if (!parsed) continue
    const m = byName.get(parsed.machine) ?? {alive: false, draining: false}
    byName.set(parsed.machine, m)
    if (parsed.kind === 'agent') m.alive = true
    if (parsed.kind === 'drain') m.draining = true
    if (parsed.kind === 'missing') m.missingSince = missingSince(text)
    if (parsed.kind === 'facts') {
      try {
        m.facts = JSON.parse(text) as MachineFacts
      } catch {
        // A damaged facts record leaves the machine out until its agent writes it again.
      }
    }
  }
  return [...byName].filter(([, m]) => m.facts).map(([name, m]) => ({name, facts: m.facts!, alive: m.alive, draining: m.draining, ...(m.missingSince !== undefined ? {missingSince: m.missingSince} : {})}))
}

/** A `missing` mark's time in ms; undefined for a damaged one (the leader then writes it again). */
function missingSince(text: string): number | undefined {
  try {
    const since = Date.parse((JSON.parse(text) as {since?: unknown}).since as string)
    return Number.isFinite(since) ? since : undefined
  } catch {
    return undefined
  }
}

/** The assignments etcd holds; an unreadable one is left out (and so rewritten by the plan). */
export function storedAssignments(values: Record<string, string>, prefix = ETCD_PREFIX): StoredAssignment[] {
  const out: StoredAssignment[] = []
  for (const [key, text] of Object.entries(values)) {
    const parsed = parseAssignmentKey(key, prefix)
    if (!parsed) continue
    try {
      const record = JSON.parse(text) as AssignmentRecord
      if (typeof record.machine === 'string') out.push({...parsed, machine: record.machine, record})
    } catch {
      // skipped: the plan puts a fresh record there
    }
  }
  return out.sort((a, b) => (a.replica < b.replica ? -1 : 1))
}
