import {setTimeout as sleep} from 'node:timers/promises'

import type {ServiceSpec} from '../spec/service.js'
import type {Cluster} from '../config/types.js'
import type {ClusterStatus, MachineStatus} from '../provision/status.js'
import {replicasOf} from '../spec/quantities.js'
import {serviceOfReplica} from '../scheduler/types.js'
import {shortSpecHash} from '../hash.js'
import {type AssignmentRecord, rolloutKeys, type RolloutRecord, schedulerKeys} from '../layout/records.js'
import {outcomeOf, rolloutLine} from '../scheduler/rollout-view.js'

/**
 * The roll-out of changed specs, after they were PUT: today every agent applies a new spec
 * on its own within about a second, so rolling out is waiting until each machine's agent
 * record (etcd, as `cluster status` reads it) shows the service active after a pass that
 * began after the PUT, or the deadline passes; also until the scheduler's rolling update
 * (src/scheduler/rollout.ts) across the replicas or, for a global service, its machines has
 * completed, or ended otherwise.
 */

/** One machine's part of a service's roll-out. */
export interface MachineOutcome {
  machine: string
  ok: boolean
  /** Why it is not done: the agent's error for the service, its unit's state, or the agent's. */
  reason?: string
}

/** A service's roll-out: ok when every machine that runs it has it active. */
export interface RolloutOutcome {
  service: string
  ok: boolean
  machines: MachineOutcome[]
}

/** The machines whose role the spec names: where every agent runs a global service. */
export function machinesFor(cluster: Cluster, spec: Pick<ServiceSpec, 'roles'>): string[] {
  return cluster.machines.filter((m) => spec.roles.includes(m.role)).map((m) => m.name)
}

/**
 * Where a service must run, as (machine, the name its agent reports it under): a global one
 * on every machine of its roles; a replicated one wherever the scheduler assigned its
 * replicas (`web.1`), with a slot not yet placed as a machine-less entry.
 */
export function rolloutTargets(cluster: Cluster, status: Pick<ClusterStatus, 'machines'>, service: string, spec: ServiceSpec): {machine?: string; unit: string}[] {
  const count = replicasOf(spec)
  if (count === 'global') return machinesFor(cluster, spec).map((machine) => ({machine, unit: service}))
  const placed = status.machines.flatMap((m) => m.assigned.filter((r) => serviceOfReplica(r) === service).map((unit) => ({machine: m.name, unit})))
  const missing = Array.from({length: Math.max(0, count - placed.length)}, () => ({unit: service}))
  return [...placed, ...missing]
}

/** Why `service` is not yet rolled out on the machine, or undefined when it is. */
export function pending(m: MachineStatus | undefined, service: string, since: number): string | undefined {
  if (!m || m.agent.state === 'down' || m.agent.state === 'not installed') return `agent ${m?.agent.state ?? 'unknown'}`
  const error = m.agent.errors?.[service]
  if (error) return error
  // lastPassAgeS is measured from the reader's clock: a pass that ended before the PUT saw the old spec.
  if (m.agent.lastPassAgeS === undefined || Date.now() - m.agent.lastPassAgeS * 1000 < since) return 'no agent pass since the change'
  if (m.services[service] !== 'active') return `unit ${m.services[service] ?? 'absent'}`
  return undefined
}

/**
 * A service's rolling update (replicated or global) as one more entry of its outcome (`(rollout)`):
 * done when the rollout to `hash` completed (or nothing had to restart); `final` when it
 * ended otherwise (rolled back, paused, superseded), so waiting for it is over.
 */
export function rolloutGate(hash: string, record: RolloutRecord | undefined, assignmentHashes: readonly string[], since: string, global = false): MachineOutcome & {final: boolean} {
  const outcome = outcomeOf(hash, record, assignmentHashes, (r) => r.updatedAt >= since, global)
  if (outcome?.state === 'completed' || outcome?.state === 'applied') return {machine: '(rollout)', ok: true, final: true}
  if (outcome) return {machine: '(rollout)', ok: false, final: true, reason: `${outcome.state}: ${outcome.message}`}
  return {machine: '(rollout)', ok: false, final: false, reason: record && (record.to === hash || record.from === hash) ? rolloutLine(record) : 'waiting for the scheduler'}
}

/**
 * Waits until every changed service is active on each of its machines (and its rolling
 * update has completed), a rollout ended otherwise, or `timeoutMs` passes;
 * returns each service's outcome.
 */
export async function rollOut(cluster: Cluster, changed: Map<string, ServiceSpec>, options: {since: number; timeoutMs: number; pollMs?: number}): Promise<RolloutOutcome[]> {
  const [{StatusReader}, {RecordStore}, {etcdEndpoints}] = await Promise.all([import('../provision/status.js'), import('../etcd/records.js'), import('../cluster/target.js')])
  const reader = await StatusReader.open(cluster)
  const records = await RecordStore.connect(etcdEndpoints(cluster))
  const deadline = Date.now() + options.timeoutMs
  // The hash the scheduler rolls to is the stored spec's (the agent validated it on PUT), read once.
  const hashes = new Map<string, string>()
  try {
    for (;;) {
      const status = await reader.read()
      const byName = new Map(status.machines.map((m) => [m.name, m]))
      let final = true
      const outcomes = await Promise.all([...changed].map(async ([service, spec]): Promise<RolloutOutcome> => {
        const machines: MachineOutcome[] = rolloutTargets(cluster, status, service, spec).map(({machine, unit}) => {
          const reason = machine === undefined ? 'not placed yet (see berth service ps)' : pending(byName.get(machine), unit, options.since)
          return {machine: machine ?? '(not placed)', ok: reason === undefined, ...(reason ? {reason} : {})}
        })
        const count = replicasOf(spec)
        if (count === 'global' || count > 0) {
          const keys = rolloutKeys(service)
          if (!hashes.has(service)) hashes.set(service, shortSpecHash(await records.get(keys.service, {lenient: true}) ?? spec))
          const [record, assigned] = await Promise.all([records.get<RolloutRecord>(keys.rollout, {lenient: true}), records.getAll<AssignmentRecord>(`${schedulerKeys().assignments}${service}/`, {lenient: true})])
          const {final: ended, ...gate} = rolloutGate(hashes.get(service)!, record, [...assigned.values()].map((a) => a.specHash), new Date(options.since).toISOString(), count === 'global')
          machines.push(gate)
          // A rollout that rolled back or paused is final; a completed one still waits for its units.
          if (!(ended && !gate.ok) && !machines.every((m) => m.ok)) final = false
        } else if (!machines.every((m) => m.ok)) final = false
        return {service, ok: machines.every((m) => m.ok), machines}
      }))
      if (outcomes.every((o) => o.ok) || (final && outcomes.some((o) => !o.ok)) || Date.now() > deadline) return outcomes
      await sleep(options.pollMs ?? 500)
    }
  } finally {
    reader.close()
    records.close()
  }
}
