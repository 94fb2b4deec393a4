import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {plan, type Action, type Desired, type Observed, type ObservedContainer, type ObservedUnit, type UnitRenderer} from '../../src/agent/plan/reconcile.js'
import type {ServiceSpec} from '../../src/spec/service.js'
import {renderUnit} from '../../src/agent/plan/unit.js'

// The content of a test unit is its image, so "changed" reads as a new image tag.
const render: UnitRenderer = (prefix, name, spec) => ({name: `${prefix}${name}.service`, content: spec.image, hash: `h(${spec.image})`, specHash: `s(${spec.image})`})
const spec = (image: string): ServiceSpec => ({image, stopTimeout: 10, restart: 'always', roles: ['main', 'worker']})
const desired = (services: Record<string, string>): Desired => new Map(Object.entries(services).map(([name, image]) => [name, spec(image)]))
const units = (entries: Record<string, [image: string, activeState: string, needsReload?: boolean]>): Map<string, ObservedUnit> =>
  new Map(Object.entries(entries).map(([name, [image, activeState, needsReload]]) => [name, {hash: `h(${image})`, activeState, ...(needsReload ? {needsReload} : {})}]))
const container = (name: string, image: string, running = true): ObservedContainer =>
  ({id: `id-${name.replace(/^\//, '')}`, name, service: name.replace(/^\/?berth-/, ''), specHash: `s(${image})`, running})

/** Actions as short strings, so a table row reads as the pass it describes. */
function show(actions: Action[]): string[] {
  return actions.map((a) => {
    switch (a.kind) {
      case 'daemonReload': return 'daemonReload'
      case 'writeUnit': return `writeUnit ${a.unit} <${a.content}>`
      case 'removeContainer': return `removeContainer ${a.container} ${a.id}`
      default: return `${a.kind} ${a.unit}`
    }
  })
}

const cases: {name: string; desired: Desired; observed: Observed; expected: string[]}[] = [
  {name: 'nothing desired, nothing there', desired: desired({}), observed: {units: units({}), containers: []}, expected: []},
  {
    name: 'a new service is written and started: systemd loads a unit it holds no copy of, without a reload',
    desired: desired({web: 'web:1'}), observed: {units: units({}), containers: []},
    expected: ['writeUnit berth-web.service <web:1>', 'start berth-web.service'],
  },
  {
    name: 'a unit systemd still holds without its file (a removal cut short) is reloaded before its name is written again',
    desired: desired({web: 'web:1'}), observed: {units: new Map([['berth-web.service', {hash: '', activeState: 'inactive', needsReload: true}]]), containers: []},
    expected: ['writeUnit berth-web.service <web:1>', 'daemonReload', 'start berth-web.service'],
  },
  {
    name: 'a unit systemd still holds without its file and nothing desires is stopped and forgotten',
    desired: desired({}), observed: {units: new Map([['berth-old.service', {hash: '', activeState: 'active', needsReload: true}]]), containers: [container('berth-old', 'old:1')]},
    expected: ['stop berth-old.service', 'removeUnit berth-old.service', 'daemonReload'],
  },
  {
    name: 'an unchanged running service is left alone',
    desired: desired({web: 'web:1'}), observed: {units: units({'berth-web.service': ['web:1', 'active']}), containers: [container('/berth-web', 'web:1')]},
    expected: [],
  },
  {
    name: 'unchanged but stopped or failed services are started without a reload',
    desired: desired({a: 'a:1', b: 'b:1', c: 'c:1'}),
    observed: {units: units({'berth-a.service': ['a:1', 'inactive'], 'berth-b.service': ['b:1', 'failed'], 'berth-c.service': ['c:1', 'activating']}), containers: []},
    expected: ['start berth-a.service', 'start berth-b.service'],
  },
  {
    name: 'a changed running service is rewritten and restarted, a changed stopped one started',
    desired: desired({web: 'web:2', worker: 'worker:2'}),
    observed: {units: units({'berth-web.service': ['web:1', 'active'], 'berth-worker.service': ['worker:1', 'failed']}), containers: [container('berth-web', 'web:1')]},
    expected: ['writeUnit berth-web.service <web:2>', 'writeUnit berth-worker.service <worker:2>', 'daemonReload', 'restart berth-web.service', 'start berth-worker.service'],
  },
  {
    name: 'a service no longer desired is stopped before its unit goes; a failed one is only removed',
    desired: desired({}),
    observed: {units: units({'berth-old.service': ['old:1', 'active'], 'berth-dead.service': ['dead:1', 'failed']}), containers: [container('berth-old', 'old:1')]},
    expected: ['removeUnit berth-dead.service', 'stop berth-old.service', 'removeUnit berth-old.service', 'daemonReload'],
  },
  {
    name: 'units and containers without the prefix, and prefixed non-service units, are never touched',
    desired: desired({}),
    observed: {
      units: units({'sshd.service': ['x', 'active'], 'other-web.service': ['x', 'active'], 'berth-web.timer': ['x', 'active'], 'berth-web.service.d': ['x', 'inactive']}),
      containers: [{id: 'c1', name: '/other-web', service: 'web', specHash: 'x', running: true}, {id: 'c2', name: 'postgres', service: 'postgres', specHash: 'x', running: true}],
    },
    expected: [],
  },
  {
    name: 'orphan containers with no unit and no service are removed, after the units are settled',
    desired: desired({web: 'web:1'}),
    observed: {units: units({}), containers: [container('/berth-ghost', 'ghost:1'), container('berth-zombie', 'zombie:1', false), container('/berth-web', 'web:0')]},
    expected: ['writeUnit berth-web.service <web:1>', 'start berth-web.service', 'removeContainer berth-ghost id-berth-ghost', 'removeContainer berth-zombie id-berth-zombie'],
  },
  {
    name: 'a stale container under a current, loaded unit (an env change, or a pass that died after its reload) is restarted without a reload',
    desired: desired({web: 'web:2'}),
    observed: {units: units({'berth-web.service': ['web:2', 'active']}), containers: [container('/berth-web', 'web:1')]},
    expected: ['restart berth-web.service'],
  },
  {
    name: 'a stale container under a current unit systemd has not loaded (a pass that died before its reload) gets the reload first',
    desired: desired({web: 'web:2'}),
    observed: {units: units({'berth-web.service': ['web:2', 'active', true]}), containers: [container('/berth-web', 'web:1')]},
    expected: ['daemonReload', 'restart berth-web.service'],
  },
  {
    name: 'a unit file systemd has not reloaded yet gets a reload',
    desired: desired({web: 'web:1'}),
    observed: {units: units({'berth-web.service': ['web:1', 'inactive', true]}), containers: []},
    expected: ['daemonReload', 'start berth-web.service'],
  },
  {
    name: 'a mixed pass reloads once, in order: retire, write, reload, run, clean up',
    desired: desired({api: 'api:2', new: 'new:1', same: 'same:1'}),
    observed: {
      units: units({'berth-api.service': ['api:1', 'active'], 'berth-same.service': ['same:1', 'active'], 'berth-gone.service': ['gone:1', 'active']}),
      containers: [container('berth-api', 'api:1'), container('berth-same', 'same:1'), container('berth-gone', 'gone:1'), container('berth-lost', 'lost:1')],
    },
    expected: [
      'stop berth-gone.service', 'removeUnit berth-gone.service',
      'writeUnit berth-api.service <api:2>', 'writeUnit berth-new.service <new:1>',
      'daemonReload',
      'restart berth-api.service', 'start berth-new.service',
      'removeContainer berth-lost id-berth-lost',
    ],
  },
]

describe('plan', () => {
  for (const c of cases) {
    it(c.name, () => assert.deepEqual(show(plan(c.desired, c.observed, 'berth-', render)), c.expected))
  }

  it('names the service each action counts towards', () => {
    const actions = plan(desired({web: 'web:1'}), {units: units({'berth-old.service': ['o', 'active']}), containers: []}, 'berth-', render)
    assert.deepEqual(actions.map((a) => ('service' in a ? a.service : '-')), ['old', 'old', 'web', '-', 'web'])
  })

  it('is idle once the node matches, with real rendered units', () => {
    const want: Desired = new Map([['web', spec('web:1')]])
    const real: UnitRenderer = (prefix, name, s) => renderUnit(prefix, name, s, {registry: '10.0.0.2:5000'})
    const unit = real('berth-', 'web', spec('web:1'))
    const observed: Observed = {
      units: new Map([[unit.name, {hash: unit.hash, activeState: 'active'}]]),
      containers: [{id: 'abc', name: '/berth-web', service: 'web', specHash: unit.specHash, running: true}],
    }
    assert.deepEqual(plan(want, observed, 'berth-', real), [])
    assert.deepEqual(show(plan(new Map([['web', spec('web:2')]]), observed, 'berth-', real)).map((s) => s.split(' ')[0]), ['writeUnit', 'daemonReload', 'restart'])
  })
})
