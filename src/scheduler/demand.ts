import type {ServiceSpec} from '../agent/spec.js'
import {parseConstraint} from './constraint.js'
import type {Constraint, ServiceDemand} from './types.js'

/** Bytes per unit of a memory size as docker's --memory reads it (no suffix: bytes). */
const MEMORY_UNITS: Record<string, number> = {b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3}

/** MB (MiB) of a memory size written as `memory` and `resources.memory` are: `256m`, `1g`, `512k`, `1048576`. */
export function memoryMb(size: string): number {
  const match = /^(\d+)([bkmg]?)$/.exec(size)
  if (!match) throw new RangeError(`${JSON.stringify(size)} is not a memory size like 256m`)
  return (Number(match[1]) * MEMORY_UNITS[match[2] || 'b']!) / 1024 ** 2
}

/**
 * A global service (mode global, or neither mode nor replicas: what berth always ran) or a
 * count (mode replicated defaults to 1).
 */
export function replicasOf(spec: Pick<ServiceSpec, 'mode' | 'replicas'>): number | 'global' {
  if (spec.mode === 'global') return 'global'
  if (spec.replicas !== undefined) return spec.replicas
  return spec.mode === 'replicated' ? 1 : 'global'
}

/** What a validated service asks of the scheduler: its count, its eligible machines, its reservations. */
export function demandOf(name: string, spec: ServiceSpec): ServiceDemand {
  const placement = spec.placement ?? {}
  return {
    name,
    replicas: replicasOf(spec),
    roles: [...spec.roles],
    constraints: (placement.constraints ?? []).map((text) => constraintOf(name, text)),
    ...(placement.spread === undefined ? {} : {spread: placement.spread}),
    ...(placement.maxPerMachine === undefined ? {} : {maxPerMachine: placement.maxPerMachine}),
    resources: {
      memoryMb: spec.resources?.memory === undefined ? 0 : memoryMb(spec.resources.memory),
      cpus: spec.resources?.cpus ?? 0,
    },
  }
}

/** A validated spec's constraint parses; one that does not is a bug of the caller (it skipped validation). */
function constraintOf(service: string, text: string): Constraint {
  const parsed = parseConstraint(text)
  if ('problem' in parsed) throw new RangeError(`service ${service}: ${parsed.problem}`)
  return parsed
}
