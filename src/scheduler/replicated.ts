import {hasFixedHostPort, type ServiceSpec} from '../spec/service.js'
import {replicasOf} from '../spec/quantities.js'
import {demandOf} from './demand.js'
import {replicaId, type ServiceDemand} from './types.js'

/**
 * Replicated services (`replicas`, or `mode: replicated`) run where the scheduler places
 * them. Every other spec, today's included, keeps its meaning: one copy on every machine of
 * its roles, which each agent runs on its own; the scheduler only names the revision a
 * machine's copy runs while a change rolls (an agent without that assignment runs the
 * current spec).
 */

/** The replica count of a replicated service, or undefined for a global one. */
export function replicatedCount(spec: ServiceSpec): number | undefined {
  const count = replicasOf(spec)
  return count === 'global' ? undefined : count
}

/**
 * The demand the scheduler places by: demandOf's, with at most one copy per machine when a
 * fixed host port makes a second one fail to start (a placement input, not a validation
 * rule: `replicas: 3` with `8080:80` is fine on three machines).
 */
export function schedulerDemand(name: string, spec: ServiceSpec): ServiceDemand {
  const demand = demandOf(name, spec)
  return hasFixedHostPort(spec) ? {...demand, maxPerMachine: Math.min(demand.maxPerMachine ?? 1, 1)} : demand
}

/**
 * The replicas a host runs when no scheduler places them (a file or PostgreSQL store: one
 * host): every slot, or one when a fixed host port makes a second copy impossible.
 */
export function localReplicas(service: string, spec: ServiceSpec): string[] {
  const count = replicatedCount(spec) ?? 0
  return Array.from({length: hasFixedHostPort(spec) ? Math.min(1, count) : count}, (_, i) => replicaId(service, i + 1))
}
