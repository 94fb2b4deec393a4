import type {ServiceSpec} from '../../src/spec/service.js'
import {replicasOf} from '../../src/spec/quantities.js'
import {replicaId, type Assignment, type MachineView, type Plan, type ServiceDemand} from '../../src/scheduler/types.js'

/**
 * A small placement for the wiring's tests (the real one, src/scheduler/placement.ts, has
 * its own table tests): a replica stays where it is while its machine is offered and not
 * draining, else it goes to the machine of its roles holding the fewest replicas (then by
 * name), one per machine; no machine left makes it pending. A global service has a copy on
 * every machine of its roles, draining or not (not counted in the load).
 */
export function testPlace(demands: ServiceDemand[], machines: MachineView[], current: Assignment[]): Plan {
  const plan: Plan = {assignments: [], pending: []}
  const load = new Map(machines.map((m) => [m.name, 0]))
  for (const d of demands) {
    if (d.replicas === 'global') {
      for (const m of machines) if (d.roles.includes(m.role)) plan.assignments.push({replica: replicaId(d.name, m.name), service: d.name, machine: m.name})
      continue
    }
    const eligible = machines.filter((m) => !m.draining && d.roles.includes(m.role))
    const used = new Set<string>()
    const keep = new Map(current.filter((a) => a.service === d.name).map((a) => [a.replica, a.machine]))
    const slots = Array.from({length: d.replicas}, (_, i) => replicaId(d.name, i + 1))
    const place = (replica: string, machine: string): void => {
      used.add(machine)
      load.set(machine, (load.get(machine) ?? 0) + 1)
      plan.assignments.push({replica, service: d.name, machine})
    }
    const rest: string[] = []
    for (const replica of slots) {
      const at = keep.get(replica)
      if (at && eligible.some((m) => m.name === at) && !used.has(at)) place(replica, at)
      else rest.push(replica)
    }
    for (const replica of rest) {
      const free = eligible.filter((m) => !used.has(m.name)).sort((a, b) => (load.get(a.name)! - load.get(b.name)!) || (a.name < b.name ? -1 : 1))
      if (free[0]) place(replica, free[0].name)
      else plan.pending.push({replica, service: d.name, reason: `no eligible machine left (${eligible.length} eligible, one replica each)`})
    }
  }
  return plan
}

/** The test demand: replicas from the spec, roles as the spec says, nothing else. */
export function testDemandOf(name: string, spec: ServiceSpec): ServiceDemand {
  return {name, replicas: replicasOf(spec), roles: spec.roles, constraints: [], resources: {memoryMb: 0, cpus: 0}}
}
