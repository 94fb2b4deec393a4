import type {ServiceSpec} from '../spec/service.js'
import {parseConstraint} from '../spec/constraint.js'
import {memoryMb, replicasOf} from '../spec/quantities.js'
import type {Constraint} from '../spec/constraint.js'
import type {ServiceDemand} from './types.js'

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
