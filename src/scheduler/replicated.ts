import type {ServiceSpec} from '../agent/spec.js'
import {replicaId} from './types.js'

/**
 * Which services the scheduler places: those whose spec asks for `replicas` (and is not
 * `mode: global`). Every other spec, today's included, keeps its meaning: one copy on every
 * machine of its roles, run by each agent on its own, untouched by the scheduler.
 */

/** The replica count of a replicated service, or undefined for a global one. */
export function replicasOf(spec: ServiceSpec): number | undefined {
  const {replicas, mode} = spec as ServiceSpec & {replicas?: unknown; mode?: unknown}
  return typeof replicas === 'number' && mode !== 'global' ? replicas : undefined
}

/** True when the spec publishes a port on a fixed host port (`8080:80`, `10.0.0.1:8080:80`): two copies cannot share a machine. */
export function hasFixedHostPort(spec: ServiceSpec): boolean {
  return (spec.ports ?? []).some((port) => port.split('/')[0]!.split(':').length > 1)
}

/**
 * The replicas a host runs when no scheduler places them (a file or PostgreSQL store: one
 * host): every slot, or one when a fixed host port makes a second copy impossible.
 */
export function localReplicas(service: string, spec: ServiceSpec): string[] {
  const count = hasFixedHostPort(spec) ? Math.min(1, replicasOf(spec) ?? 0) : replicasOf(spec) ?? 0
  return Array.from({length: count}, (_, i) => replicaId(service, i + 1))
}
