import {type AgentRecord, ETCD_PREFIX, parseMachineKey, revisionsDir, rolloutsDir, type RolloutRecord} from '../layout/records.js'
import type {ServiceSpec} from '../spec/service.js'
import type {StoredAssignment} from './inputs.js'
import {appendRevision, parseRevisions, type RevisionAppend} from './revisions.js'
import {replicatedCount} from './replicated.js'
import {rolloutStep, surgeOf} from './rollout.js'
import type {Plan, ServiceDemand} from './types.js'

/**
 * Every placed service's rollout in one placement pass, pure: from what etcd holds
 * (revisions, rollout records, the agents' health) to the spec hash of every planned
 * replica (a replicated service's slots, a global service's copies `<service>.<machine>`),
 * the rollout records that changed, and the rollbacks to write. The leader commits them
 * fenced by its leadership (leader.ts).
 */

/** What one pass reads: the raw values under revisions/ and machines/, and the rollout records (rolloutRecords). */
export interface RolloutValues {
  revisions: Record<string, string>
  rollouts: ReadonlyMap<string, RolloutRecord>
  machines: Record<string, string>
}

/** A service the leader rolls back: its key gets the revision's spec, appended as a new revision, with the rollout's record saying so. */
export interface Rollback {
  service: string
  spec: unknown
  revision: RevisionAppend
  record: RolloutRecord
}

/** What the leader writes for every rollout. */
export interface RolloutPass {
  /** Replica → the spec hash its assignment names. */
  hashes: Map<string, string>
  records: RolloutRecord[]
  rollbacks: Rollback[]
  /** Some rollout waits for health: agents' reports should wake the leader. */
  active: boolean
  recheckInMs?: number
  logs: string[]
}

/** The rollouts of the placed services for this pass's plan. */
export function rolloutPass(services: ReadonlyArray<[string, ServiceSpec]>, plan: Plan, current: readonly StoredAssignment[], values: RolloutValues, now: number, prefix = ETCD_PREFIX): RolloutPass {
  const agents = agentHealth(values.machines, prefix)
  const out: RolloutPass = {hashes: new Map(), records: [], rollbacks: [], active: false, logs: []}
  const stored = new Map(current.map((a) => [a.replica, a]))
  // Grouped once: a pass sees every service's assignments and revisions, not once per service.
  const plannedOf = groupBy(plan.assignments, (a) => a.service)
  const revisionsOf = groupBy(Object.entries(values.revisions), ([key]) => key.slice(revisionsDir(prefix).length).split('/')[0]!)
  for (const [service, spec] of services) {
    const planned = plannedOf.get(service) ?? []
    const running = new Map(planned.flatMap((a) => {
      const was = stored.get(a.replica)
      return was && was.machine === a.machine && was.record.specHash ? [[a.replica, was.record.specHash] as const] : []
    }))
    // An agent reports a global copy's health under the service's name (its unit's), a replica's under the replica id.
    const global = replicatedCount(spec) === undefined
    const revisionValues = Object.fromEntries(revisionsOf.get(service) ?? [])
    const decision = rolloutStep({
      service, spec, planned, running, record: values.rollouts.get(service), revisions: parseRevisions(revisionValues, service, prefix),
      health: (machine, replica) => agents.get(machine)?.[global ? service : replica], now,
    })
    for (const [replica, hash] of decision.hashes) out.hashes.set(replica, hash)
    if (decision.rollbackTo && decision.record) {
      const back = decision.rollbackTo
      const revision = appendRevision(service, revisionValues, {spec: back.spec, hash: back.hash, at: new Date(now).toISOString(), origin: 'scheduler', note: `rollback to ${back.seq}`}, prefix)
      out.rollbacks.push({service, spec: back.spec, revision, record: decision.record})
    } else if (decision.record) out.records.push(decision.record)
    if (decision.log) out.logs.push(decision.log)
    out.active ||= decision.active
    if (decision.recheckInMs !== undefined) out.recheckInMs = Math.min(out.recheckInMs ?? Infinity, decision.recheckInMs)
  }
  return out
}

/**
 * One pass's placement and rollouts. A start-first rollout that begins in this pass asks for
 * extra copies (surgeOf) that a placement made from the stored records cannot know of; so
 * the pass places again with the records it began and steps those rollouts once more, and
 * the extra copies are assigned now rather than at the next pass (a 100 ms wait and a
 * second round of reads in every start-first update's change → running). Only the begun
 * services' records differ between the two steps, so every other decision is the same.
 */
export function placeAndRoll(services: ReadonlyArray<[string, ServiceSpec]>, place: (demands: ServiceDemand[]) => Plan, demandOf: (name: string, spec: ServiceSpec) => ServiceDemand, current: readonly StoredAssignment[], values: RolloutValues, now: number, prefix = ETCD_PREFIX): {plan: Plan; rollouts: RolloutPass} {
  const once = (records: ReadonlyMap<string, RolloutRecord>) => {
    const plan = place(services.map(([name, spec]) => demandWithSurge(demandOf(name, spec), spec, records)))
    return {plan, rollouts: rolloutPass(services, plan, current, {...values, rollouts: records}, now, prefix)}
  }
  const first = once(values.rollouts)
  const specs = new Map(services)
  const begun = first.rollouts.records.filter((r) => surgeOf(specs.get(r.service)!, r) > surgeOf(specs.get(r.service)!, values.rollouts.get(r.service)))
  if (begun.length === 0) return first
  const second = once(new Map([...values.rollouts, ...begun.map((r) => [r.service, r] as const)]))
  // A begun rollout whose second step changed nothing more still has its new record to write.
  const written = new Set(second.rollouts.records.map((r) => r.service))
  return {plan: second.plan, rollouts: {...second.rollouts, records: [...second.rollouts.records, ...begun.filter((r) => !written.has(r.service))]}}
}

/** The service's placement demand with its start-first rollout's extra copies (surgeOf), from the pass's rollout records. */
export function demandWithSurge(demand: ServiceDemand, spec: ServiceSpec, rollouts: ReadonlyMap<string, RolloutRecord>): ServiceDemand {
  const surge = typeof demand.replicas === 'number' ? surgeOf(spec, rollouts.get(demand.name)) : 0
  return surge > 0 ? {...demand, replicas: (demand.replicas as number) + surge} : demand
}

function groupBy<T>(items: Iterable<T>, keyOf: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>()
  for (const item of items) {
    const key = keyOf(item)
    const group = out.get(key)
    if (group) group.push(item)
    else out.set(key, [item])
  }
  return out
}

function agentHealth(values: Record<string, string>, prefix: string): Map<string, NonNullable<AgentRecord['health']>> {
  const out = new Map<string, NonNullable<AgentRecord['health']>>()
  for (const [key, text] of Object.entries(values)) {
    const parsed = parseMachineKey(key, prefix)
    if (parsed?.kind !== 'agent') continue
    try {
      out.set(parsed.machine, (JSON.parse(text) as AgentRecord).health ?? {})
    } catch {
      // A damaged record reports no health; its replicas wait.
    }
  }
  return out
}

/** The rollout records under `<prefix>/rollouts/`, by service, parsed once a pass; a damaged one is left out (its service's next change starts a fresh one). */
export function rolloutRecords(values: Record<string, string>, prefix = ETCD_PREFIX): Map<string, RolloutRecord> {
  const out = new Map<string, RolloutRecord>()
  const dir = rolloutsDir(prefix)
  for (const [key, text] of Object.entries(values)) {
    if (!key.startsWith(dir) || key.slice(dir.length).includes('/')) continue
    try {
      const record = JSON.parse(text) as RolloutRecord
      if (typeof record.to === 'string') out.set(key.slice(dir.length), record)
    } catch {
      // Damaged: as if there were none.
    }
  }
  return out
}
