import type {MachineRole} from '../src/spec/service.js'
import {parseConstraint} from '../src/spec/constraint.js'
import {place} from '../src/scheduler/placement.js'
import type {Constraint} from '../src/spec/constraint.js'
import type {MachineView, Plan, ServiceDemand} from '../src/scheduler/types.js'
import {measure, percentile, printTable, type Row} from './timing.js'

/**
 * The scheduler's pure placement at size (issue 12): 10,000 replicas (1,000 services of 10)
 * across 1,000 simulated machines in 4 zones, from nothing (target < 1 s), then one changed
 * service replanned with every current assignment given (target < 10 ms), a replan with
 * nothing changed, and a lost machine. The peer is Nomad's C1M (a million containers on
 * 5,000 hosts in under 5 minutes, about 3,750 a second), its published figure.
 * Usage: node dist/bench/placement.js [RUNS]
 */

const runs = Number(process.argv[2] ?? 20)
const MACHINES = 1000
const SERVICES = 1000
const REPLICAS = 10
const NOMAD_C1M_PER_SECOND = 3750

const machines: MachineView[] = Array.from({length: MACHINES}, (_, i) => ({
  name: `m-${String(i).padStart(4, '0')}`,
  role: (i < 3 ? 'main' : i % 50 === 0 ? 'data' : 'worker') as MachineRole,
  labels: {zone: `z${i % 4}`, disk: i % 3 === 0 ? 'hdd' : 'ssd'},
  capacity: {memoryMb: 8192 * (1 + (i % 4)), cpus: 4 * (1 + (i % 4))},
  draining: false,
}))

const constraints = (texts: string[]): Constraint[] => texts.map((t) => parseConstraint(t) as Constraint)

/** Services of every shape the spec allows: spread, constraints, a cap per machine, reservations. */
function service(i: number, replicas = REPLICAS): ServiceDemand {
  return {
    name: `svc-${String(i).padStart(4, '0')}`,
    replicas,
    roles: i % 10 === 0 ? ['main', 'worker'] : ['worker'],
    constraints: constraints(i % 5 === 0 ? ['labels.disk in (ssd, nvme)'] : i % 7 === 0 ? ['labels.zone != z3'] : []),
    ...(i % 2 === 0 ? {spread: 'zone'} : {}),
    ...(i % 3 === 0 ? {maxPerMachine: 2} : {}),
    resources: {memoryMb: 128 * (1 + (i % 4)), cpus: 0.1 * (1 + (i % 3))},
  }
}

const demands = Array.from({length: SERVICES}, (_, i) => service(i))
const count = (plan: Plan) => `${plan.assignments.length} placed, ${plan.pending.length} pending`
/** Replicas of `before` that the plan puts on another machine (a removed or new replica is not a move). */
function moved(before: Plan['assignments'], plan: Plan): number {
  const was = new Map(before.map((a) => [a.replica, a.machine]))
  return plan.assignments.filter((a) => was.has(a.replica) && was.get(a.replica) !== a.machine).length
}

const coldPlan = place(demands, machines, [])
const cold = await measure(() => place(demands, machines, []), runs)
const current = coldPlan.assignments
const steady = await measure(() => place(demands, machines, current), runs * 5)
const scaled = demands.map((d, i) => (i === 500 ? service(500, 15) : d))
const scaledPlan = place(scaled, machines, current)
const oneChanged = await measure(() => place(scaled, machines, current), runs * 5)
const lostName = current.find((a) => a.service === 'svc-0001')!.machine
const lost = machines.filter((m) => m.name !== lostName)
const lostPlan = place(demands, lost, current)
const machineLost = await measure(() => place(demands, lost, current), runs * 5)

// The least any replan does: read every current assignment, index it, write a plan of new objects.
const floor = await measure(() => {
  const byReplica = new Map(current.map((a) => [a.replica, a]))
  return current.map((a) => ({...byReplica.get(a.replica)!}))
}, runs * 5)

const p50 = (samples: number[]) => percentile(samples, 50)

/** p50 of the process's CPU time per call: on a shared, loaded machine it moves less than the wall time. */
function cpuP50(fn: () => unknown, n: number): string {
  const samples: number[] = []
  for (let i = 0; i < n; i++) {
    const start = process.cpuUsage()
    fn()
    const used = process.cpuUsage(start)
    samples.push((used.user + used.system) / 1000)
  }
  return `CPU ${p50(samples.sort((a, b) => a - b)).toFixed(1)} ms`
}
const ofFloor = (samples: number[]) => `${(p50(samples) / p50(floor)).toFixed(1)}x the floor`
const perSecond = (samples: number[], replicas: number) => Math.round((replicas / p50(samples)) * 1000)
const rate = perSecond(cold, coldPlan.assignments.length)
const rows: Row[] = [
  {
    what: `place ${SERVICES * REPLICAS} replicas on ${MACHINES} machines from nothing`, samples: cold, target: '< 1000 ms',
    note: `${count(coldPlan)}; ${cpuP50(() => place(demands, machines, []), runs)}; ${rate.toLocaleString('en')} replicas/s = ${(rate / NOMAD_C1M_PER_SECOND).toFixed(1)}x Nomad C1M`,
  },
  {what: `floor: index ${current.length} current assignments by replica and copy them`, samples: floor},
  {what: 'replan, nothing changed (every assignment given)', samples: steady, note: `${count(place(demands, machines, current))}; ${ofFloor(steady)}`},
  {what: 'replan, one service scaled 10 → 15', samples: oneChanged, target: '< 10 ms', note: `${count(scaledPlan)}; ${moved(current, scaledPlan)} moved; ${ofFloor(oneChanged)}; ${cpuP50(() => place(scaled, machines, current), runs * 5)}`},
  {what: `replan, one machine lost (${lostName})`, samples: machineLost, target: '< 10 ms', note: `${moved(current, lostPlan)} moved; ${ofFloor(machineLost)}; ${cpuP50(() => place(demands, lost, current), runs * 5)}`},
  {
    what: `peer: Nomad C1M, ${SERVICES * REPLICAS} replicas at ${NOMAD_C1M_PER_SECOND.toLocaleString('en')}/s (published figure, not run here)`,
    samples: [(SERVICES * REPLICAS / NOMAD_C1M_PER_SECOND) * 1000],
    note: 'a whole scheduler with Raft, on 5,000 hosts',
  },
]
printTable(`Placement: ${SERVICES * REPLICAS} replicas on ${MACHINES} simulated machines`, rows)
