import {setTimeout as sleep} from 'node:timers/promises'

import type {ServiceSpec} from '../spec/service.js'
import type {Cluster} from '../config/types.js'
import type {ClusterStatus, MachineStatus} from '../provision/status.js'
import {replicasOf} from '../spec/quantities.js'
import {serviceOfReplica} from '../scheduler/types.js'

/**
 * The roll-out of changed specs, after they were PUT: today every agent applies a new spec
 * on its own within about a second, so rolling out is waiting until each machine's agent
 * record (etcd, as `cluster status` reads it) shows the service active after a pass that
 * began after the PUT, or the deadline passes. A rolling update with health gates replaces
 * this one function.
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

/** Waits until every changed service is active on each of its machines, or `timeoutMs` passes; returns each service's outcome. */
export async function rollOut(cluster: Cluster, changed: Map<string, ServiceSpec>, options: {since: number; timeoutMs: number; pollMs?: number}): Promise<RolloutOutcome[]> {
  const {StatusReader} = await import('../provision/status.js')
  const reader = await StatusReader.open(cluster)
  const deadline = Date.now() + options.timeoutMs
  try {
    for (;;) {
      const status = await reader.read()
      const byName = new Map(status.machines.map((m) => [m.name, m]))
      const outcomes = [...changed].map(([service, spec]): RolloutOutcome => {
        const machines = rolloutTargets(cluster, status, service, spec).map(({machine, unit}) => {
          const reason = machine === undefined ? 'not placed yet (see berth service ps)' : pending(byName.get(machine), unit, options.since)
          return {machine: machine ?? '(not placed)', ok: reason === undefined, ...(reason ? {reason} : {})}
        })
        return {service, ok: machines.every((m) => m.ok), machines}
      })
      if (outcomes.every((o) => o.ok) || Date.now() > deadline) return outcomes
      await sleep(options.pollMs ?? 500)
    }
  } finally {
    reader.close()
  }
}
