import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import type {MachineRole} from '../../src/spec/service.js'
import {parseConstraint} from '../../src/spec/constraint.js'
import {place} from '../../src/scheduler/placement.js'
import type {Constraint} from '../../src/spec/constraint.js'
import {type Assignment, type MachineView, type Plan, type ServiceDemand, serviceOfReplica} from '../../src/scheduler/types.js'

/** A machine: `w1`, or `a1:worker:zone=a` with a role and labels; 4 GB and 4 CPUs unless given. */
function machine(spec: string, extra: Partial<MachineView> = {}): MachineView {
  const [name = '', role = 'worker', ...labels] = spec.split(':')
  return {
    name, role: role as MachineRole, labels: Object.fromEntries(labels.map((l) => l.split('='))), capacity: {memoryMb: 4096, cpus: 4}, draining: false, ...extra,
  }
}

const draining = (spec: string): MachineView => machine(spec, {draining: true})
const sized = (spec: string, memoryMb: number, cpus = 4): MachineView => machine(spec, {capacity: {memoryMb, cpus}})

/** A demand: replicated with a count, or global; on workers unless roles are given. */
function demand(name: string, replicas: number | 'global', extra: Partial<Omit<ServiceDemand, 'constraints'>> & {constraints?: string[]} = {}): ServiceDemand {
  const {constraints = [], ...rest} = extra
  return {name, replicas, roles: ['worker'], constraints: constraints.map((c) => parseConstraint(c) as Constraint), resources: {memoryMb: 0, cpus: 0}, ...rest}
}

/** Current assignments written `web.1@w1`. */
function at(...written: string[]): Assignment[] {
  return written.map((w) => {
    const [replica = '', machineName = ''] = w.split('@')
    return {replica, service: serviceOfReplica(replica), machine: machineName}
  })
}

/** A plan written as the table rows expect it. */
function written(plan: Plan): {assignments: string[]; pending: string[]} {
  return {assignments: plan.assignments.map((a) => `${a.replica}@${a.machine}`), pending: plan.pending.map((p) => `${p.replica}: ${p.reason}`)}
}

interface Row {
  title: string
  demands: ServiceDemand[]
  machines: MachineView[]
  current?: Assignment[]
  assignments: string[]
  pending?: string[]
}

const workers = ['w1', 'w2', 'w3'].map((n) => machine(n))

const rows: Row[] = [
  {
    title: 'replicas go to the least loaded machines, ties by name',
    demands: [demand('web', 3)], machines: workers,
    assignments: ['web.1@w1', 'web.2@w2', 'web.3@w3'],
  },
  {
    title: 'a scale-up keeps every current replica where it is',
    demands: [demand('web', 4)], machines: workers, current: at('web.1@w2', 'web.2@w3'),
    assignments: ['web.1@w2', 'web.2@w3', 'web.3@w1', 'web.4@w1'],
  },
  {
    title: 'a scale-down removes the highest slots',
    demands: [demand('web', 2)], machines: workers, current: at('web.1@w3', 'web.2@w1', 'web.3@w2', 'web.4@w2'),
    assignments: ['web.1@w3', 'web.2@w1'],
  },
  {
    title: 'a machine lost: only its replicas move, to the least loaded machine left',
    demands: [demand('web', 3), demand('api', 1)], machines: [workers[0]!, workers[2]!], current: at('web.1@w1', 'web.2@w2', 'web.3@w3', 'api.1@w1'),
    assignments: ['api.1@w1', 'web.1@w1', 'web.2@w3', 'web.3@w3'],
  },
  {
    title: 'a machine back: nothing moves back to it (stable)',
    demands: [demand('web', 3)], machines: workers, current: at('web.1@w1', 'web.2@w3', 'web.3@w3'),
    assignments: ['web.1@w1', 'web.2@w3', 'web.3@w3'],
  },
  {
    title: 'a drain moves the replicated replicas off the machine and keeps the global copies',
    demands: [demand('logs', 'global'), demand('web', 2)], machines: [draining('w1'), workers[1]!, workers[2]!],
    current: at('logs.w1@w1', 'logs.w2@w2', 'logs.w3@w3', 'web.1@w1', 'web.2@w2'),
    assignments: ['logs.w1@w1', 'logs.w2@w2', 'logs.w3@w3', 'web.1@w3', 'web.2@w2'],
  },
  {
    title: 'a global service gets a copy on every eligible machine, a draining one and a new one too',
    demands: [demand('logs', 'global', {roles: ['main', 'worker']})], machines: [machine('m1:main'), draining('w1'), machine('w2'), machine('d1:data')],
    current: at('logs.m1@m1'),
    assignments: ['logs.m1@m1', 'logs.w1@w1', 'logs.w2@w2'],
  },
  {
    title: 'spread across uneven zones: each zone gets half, the lone machine of zone b holds two',
    demands: [demand('web', 4, {spread: 'zone'})], machines: [machine('a1:worker:zone=a'), machine('a2:worker:zone=a'), machine('b1:worker:zone=b')],
    assignments: ['web.1@a1', 'web.2@b1', 'web.3@a2', 'web.4@b1'],
  },
  {
    title: 'spread counts machines without the label as one more group',
    demands: [demand('web', 3, {spread: 'zone'})], machines: [machine('a1:worker:zone=a'), machine('a2:worker:zone=a'), machine('x1')],
    assignments: ['web.1@a1', 'web.2@x1', 'web.3@a2'],
  },
  {
    title: 'spread comes before load: the busier machine of the emptier zone wins',
    demands: [demand('web', 2, {spread: 'zone', resources: {memoryMb: 100, cpus: 0}}), demand('db', 1, {constraints: ['name == b1'], resources: {memoryMb: 2000, cpus: 0}})],
    machines: [machine('a1:worker:zone=a'), machine('a2:worker:zone=a'), machine('b1:worker:zone=b')],
    current: at('web.1@a1', 'db.1@b1'),
    assignments: ['db.1@b1', 'web.1@a1', 'web.2@b1'],
  },
  {
    title: 'least loaded by reserved resources as a share of each machine\'s capacity',
    demands: [
      demand('big', 1, {constraints: ['name == small'], resources: {memoryMb: 1024, cpus: 0}}),
      demand('web', 2, {resources: {memoryMb: 512, cpus: 0}}),
      demand('x', 1, {constraints: ['name == large'], resources: {memoryMb: 1024, cpus: 0}}),
    ],
    machines: [sized('large', 8192), sized('small', 2048), sized('tiny', 1024, 1)],
    current: at('big.1@small', 'x.1@large'),
    // small is at 50 %, large at 12.5 %, tiny at 0 %; then tiny holds a copy, and large beats small.
    assignments: ['big.1@small', 'web.1@tiny', 'web.2@large', 'x.1@large'],
  },
  {
    title: 'copies of the service on a machine count before load: a second copy avoids the machine of the first',
    demands: [demand('db', 1, {constraints: ['name == w2'], resources: {memoryMb: 500, cpus: 0}}), demand('web', 2, {resources: {memoryMb: 10, cpus: 0}})],
    machines: [sized('w1', 1000), sized('w2', 1000)],
    current: at('db.1@w2'),
    assignments: ['db.1@w2', 'web.1@w1', 'web.2@w2'],
  },
  {
    title: 'equal load: fewer replicas in all wins',
    demands: [demand('a', 2, {constraints: ['name != w3']}), demand('b', 1)], machines: workers,
    assignments: ['a.1@w1', 'a.2@w2', 'b.1@w3'],
  },
  {
    title: 'capacity exhaustion: what fits is placed, the rest is pending with the closest machine',
    demands: [demand('web', 4, {resources: {memoryMb: 512, cpus: 0.5}})], machines: [sized('w1', 1024), sized('w2', 768)],
    assignments: ['web.1@w1', 'web.2@w2', 'web.3@w1'],
    pending: ['web.4: no machine has 512 MB memory free (best: w2 with 256 MB)'],
  },
  {
    title: 'capacity in CPUs',
    demands: [demand('web', 2, {resources: {memoryMb: 0, cpus: 1.5}})], machines: [sized('w1', 4096, 2), sized('w2', 4096, 1)],
    assignments: ['web.1@w1'],
    pending: ['web.2: no machine has 1.5 CPUs free (best: w2 with 1 CPU)'],
  },
  {
    title: 'memory on one machine and CPUs on another, but both on none',
    demands: [demand('web', 1, {resources: {memoryMb: 1000, cpus: 2}})], machines: [sized('w1', 2000, 1), sized('w2', 500, 4)],
    assignments: [],
    pending: ['web.1: no machine has both 1000 MB memory and 2 CPUs free (best: w1 with 2000 MB and 1 CPU)'],
  },
  {
    title: 'a kept replica holds its reservation; a current one over capacity moves',
    demands: [demand('web', 2, {resources: {memoryMb: 600, cpus: 0}})], machines: [sized('w1', 1000), sized('w2', 1000)],
    current: at('web.1@w1', 'web.2@w1'),
    assignments: ['web.1@w1', 'web.2@w2'],
  },
  {
    title: 'a constraint no machine meets',
    demands: [demand('web', 2, {constraints: ['labels.zone == eu-2']})], machines: [machine('w1:worker:zone=eu-1')],
    assignments: [],
    pending: ['web.1: constraint labels.zone == eu-2 matches no machine', 'web.2: constraint labels.zone == eu-2 matches no machine'],
  },
  {
    title: 'a constraint met only by machines of another role, and two constraints no machine meets together',
    demands: [demand('db', 1, {constraints: ['name == m1']}), demand('web', 1, {constraints: ['labels.zone == a', 'labels.disk == ssd']})],
    machines: [machine('m1:main'), machine('w1:worker:zone=a'), machine('w2:worker:zone=b:disk=ssd')],
    assignments: [],
    pending: ['db.1: constraint name == m1 matches no machine with role worker', 'web.1: constraint labels.disk == ssd matches no machine that also meets labels.zone == a'],
  },
  {
    title: 'no machine with the role, for a replicated and for a global service',
    demands: [demand('db', 1, {roles: ['data']}), demand('logs', 'global', {roles: ['data']})], machines: workers,
    assignments: [],
    pending: ['db.1: no machine with role data', 'logs: no machine with role data'],
  },
  {
    title: 'maxPerMachine reached on every eligible machine',
    demands: [demand('web', 5, {maxPerMachine: 1})], machines: workers,
    assignments: ['web.1@w1', 'web.2@w2', 'web.3@w3'],
    pending: ['web.4: maxPerMachine 1 reached on every eligible machine (3 of 5 replicas placed)', 'web.5: maxPerMachine 1 reached on every eligible machine (3 of 5 replicas placed)'],
  },
  {
    title: 'a smaller maxPerMachine moves the highest slot of a crowded machine',
    demands: [demand('web', 3, {maxPerMachine: 1})], machines: workers, current: at('web.1@w1', 'web.2@w1', 'web.3@w2'),
    assignments: ['web.1@w1', 'web.2@w3', 'web.3@w2'],
  },
  {
    title: 'every eligible machine draining',
    demands: [demand('web', 1)], machines: [draining('w1'), draining('w2'), machine('m1:main')],
    assignments: [],
    pending: ['web.1: every eligible machine is draining (w1, w2)'],
  },
  {
    title: 'a global copy on a machine without room for it is pending there',
    demands: [demand('logs', 'global', {resources: {memoryMb: 512, cpus: 0}})], machines: [sized('w1', 256), sized('w2', 1024)],
    assignments: ['logs.w2@w2'],
    pending: ['logs.w1: w1 has 256 MB memory free, and each copy reserves 512 MB'],
  },
  {
    title: 'global copies are placed before replicated ones claim the room',
    demands: [demand('aaa', 1, {resources: {memoryMb: 800, cpus: 0}}), demand('logs', 'global', {resources: {memoryMb: 800, cpus: 0}})], machines: [sized('w1', 1000)],
    assignments: ['logs.w1@w1'],
    pending: ['aaa.1: no machine has 800 MB memory free (best: w1 with 200 MB)'],
  },
  {
    title: 'a constraint changed: replicas on machines that no longer meet it move; removed services and stale ids go',
    demands: [demand('web', 2, {constraints: ['labels.zone != b']}), demand('api', 1)], machines: [machine('a1:worker:zone=a'), machine('a2:worker:zone=a'), machine('b1:worker:zone=b')],
    current: at('web.1@b1', 'web.2@a1', 'gone.1@a1', 'api.a1@a1', 'api.x@a2'),
    assignments: ['api.1@a2', 'web.1@a2', 'web.2@a1'],
  },
  {
    title: 'an assignment to a machine that is not there, a duplicate replica and ids that are no slot are dropped',
    demands: [demand('web', 2)], machines: workers, current: at('web.1@w9', 'web.2@w3', 'web.2@w1', 'web.01@w3', 'web.0@w3', 'web.1x@w3'),
    assignments: ['web.1@w2', 'web.2@w1'],
  },
  {
    title: 'zero replicas place nothing',
    demands: [demand('web', 0)], machines: workers, current: at('web.1@w1'),
    assignments: [],
  },
]

describe('place', () => {
  for (const row of rows) {
    it(row.title, () => {
      const plan = written(place(row.demands, row.machines, row.current ?? []))
      assert.deepEqual(plan, {assignments: row.assignments, pending: row.pending ?? []})
    })
  }

  it('gives the same plan for the same input in any order', () => {
    const machines = [
      ...['a', 'b', 'c'].flatMap((zone) => [1, 2, 3].map((n) => sized(`${zone}${n}:worker:zone=${zone}`, 1024 * n, n))),
      draining('d1:worker:zone=a'), machine('m1:main:zone=b'),
    ]
    const demands = [
      demand('web', 7, {spread: 'zone', resources: {memoryMb: 256, cpus: 0.25}}),
      demand('api', 4, {roles: ['main', 'worker'], maxPerMachine: 1, resources: {memoryMb: 300, cpus: 0.5}}),
      demand('logs', 'global', {roles: ['main', 'worker'], resources: {memoryMb: 64, cpus: 0.1}}),
      demand('db', 2, {constraints: ['labels.zone in (a, c)'], resources: {memoryMb: 900, cpus: 1}}),
    ]
    const current = at('web.1@a1', 'web.2@c3', 'web.9@b2', 'api.2@a3', 'db.1@c2', 'logs.b1@b1')
    const expected = place(demands, machines, current)
    assert.equal(expected.assignments.length + expected.pending.length, 7 + 4 + 11 + 2)
    let seed = 12
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    const shuffle = <T>(list: T[]): T[] => list.map((v) => [random(), v] as const).sort((x, y) => x[0] - y[0]).map(([, v]) => v)
    for (let round = 0; round < 20; round++) {
      assert.deepEqual(place(shuffle(demands), shuffle(machines), shuffle(current)), expected)
    }
    assert.deepEqual(place(demands, machines, expected.assignments), expected, 'its own output is a fixed point')
  })

  it('keeps its rules on random clusters: capacity, maxPerMachine, constraints, drain, one entry per replica, only lost replicas move', () => {
    let seed = 7
    // The high bits of the LCG: its low bits repeat with a short period.
    const random = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), Math.floor((seed / 2 ** 31) * n))
    for (let round = 0; round < 40; round++) {
      const machines = Array.from({length: 3 + random(12)}, (_, i) => machine(`m${i}:${['main', 'worker', 'data'][random(3)]}:zone=z${random(3)}`, {
        capacity: {memoryMb: 512 * (1 + random(4)), cpus: 1 + random(4)}, draining: random(6) === 0,
      }))
      const demands = Array.from({length: 1 + random(6)}, (_, i) => demand(`s${i}`, random(5) === 0 ? 'global' : random(8), {
        roles: random(2) === 0 ? ['worker'] : ['main', 'worker'],
        constraints: random(3) === 0 ? [`labels.zone != z${random(3)}`] : [],
        ...(random(2) === 0 ? {spread: 'zone'} : {}),
        ...(random(3) === 0 ? {maxPerMachine: 1 + random(2)} : {}),
        resources: {memoryMb: 128 * random(4), cpus: 0.5 * random(3)},
      }))
      const plan = place(demands, machines, [])
      const byName = new Map(machines.map((m) => [m.name, m]))
      const used = new Map<string, {memoryMb: number; cpus: number; of: Map<string, number>}>()
      for (const a of plan.assignments) {
        const m = byName.get(a.machine)!
        const d = demands.find((x) => x.name === a.service)!
        const u = used.get(m.name) ?? {memoryMb: 0, cpus: 0, of: new Map()}
        u.memoryMb += d.resources.memoryMb
        u.cpus += d.resources.cpus
        u.of.set(d.name, (u.of.get(d.name) ?? 0) + 1)
        used.set(m.name, u)
        assert.ok(d.roles.includes(m.role) && d.constraints.every((c) => (c.operator === '!=') === (m.labels.zone !== c.values[0])), `${a.replica} on ${m.name}`)
        assert.ok(d.replicas === 'global' || !m.draining, `${a.replica} on draining ${m.name}`)
        assert.ok((u.of.get(d.name) ?? 0) <= (d.replicas === 'global' ? 1 : d.maxPerMachine ?? Infinity), `${a.replica}: maxPerMachine`)
      }
      for (const [name, u] of used) {
        const {capacity} = byName.get(name)!
        assert.ok(u.memoryMb <= capacity.memoryMb && u.cpus <= capacity.cpus + 1e-9, `${name} over capacity`)
      }
      const ids = [...plan.assignments, ...plan.pending].map((e) => e.replica)
      assert.equal(new Set(ids).size, ids.length, 'one entry per replica')
      for (const d of demands.filter((x) => x.replicas !== 'global')) {
        assert.equal(ids.filter((id) => id.startsWith(`${d.name}.`)).length, d.replicas, d.name)
      }
      assert.deepEqual(place(demands, machines, plan.assignments), plan, 'a replan of its own plan changes nothing')
      const lost = machines[random(machines.length)]!.name
      const after = place(demands, machines.filter((m) => m.name !== lost), plan.assignments)
      const before = new Map(plan.assignments.map((a) => [a.replica, a.machine]))
      for (const a of after.assignments) {
        const was = before.get(a.replica)
        assert.ok(was === undefined || was === a.machine || was === lost, `${a.replica} moved from ${was} to ${a.machine} though only ${lost} was lost`)
      }
    }
  })

  it('does not change its inputs', () => {
    const machines = structuredClone(workers)
    const current = at('web.2@w1', 'web.1@w3')
    const demands = [demand('web', 2)]
    const copies = structuredClone({machines, current, demands})
    place(demands, machines, current)
    assert.deepEqual({machines, current, demands}, copies)
  })
})
