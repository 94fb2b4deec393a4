import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {validateServiceSpec} from '../../src/spec/service.js'
import type {Cluster} from '../../src/config/types.js'
import {selectServices, specChanged} from '../../src/deploy/deploy.js'
import {machinesFor, pending, rolloutGate, rolloutTargets} from '../../src/deploy/rollout.js'
import type {RolloutRecord} from '../../src/layout/records.js'
import type {ServiceSpec} from '../../src/spec/service.js'
import {UsageError} from '../../src/errors.js'
import type {MachineStatus} from '../../src/provision/status.js'

const since = Date.now() - 10_000

function machine(agent: Partial<MachineStatus['agent']>, services: Record<string, string> = {}): MachineStatus {
  return {name: 'm', ip: '10.0.0.1', role: 'main', etcd: 'voter, healthy', agent: {state: 'converged', ...agent}, services, health: {}, assigned: []}
}

describe('deploy: when a machine runs the new spec', () => {
  it('names why a machine is not done, in the order a reader needs it', () => {
    const cases: Array<[string, MachineStatus | undefined, string | undefined]> = [
      ['no record', undefined, 'agent unknown'],
      ['agent down', machine({state: 'down'}), 'agent down'],
      ['agent error for the service', machine({lastPassAgeS: 1, errors: {web: 'pull failed: manifest unknown'}}, {web: 'failed'}), 'pull failed: manifest unknown'],
      ['last pass before the change', machine({lastPassAgeS: 20}, {web: 'active'}), 'no agent pass since the change'],
      ['unit not active', machine({lastPassAgeS: 1}, {web: 'activating'}), 'unit activating'],
      ['unit absent', machine({lastPassAgeS: 1}), 'unit absent'],
      ['done', machine({lastPassAgeS: 1}, {web: 'active'}), undefined],
    ]
    for (const [what, m, reason] of cases) assert.equal(pending(m, 'web', since), reason, what)
  })

  it('a service runs on the machines whose role its spec names', () => {
    const cluster = {machines: [{name: 'a', role: 'main'}, {name: 'b', role: 'worker'}, {name: 'c', role: 'data'}]} as Cluster
    assert.deepEqual(machinesFor(cluster, {roles: ['main', 'worker']}), ['a', 'b'])
    assert.deepEqual(machinesFor(cluster, {roles: ['data']}), ['c'])
  })

  it('a replicated service runs where its replicas are assigned; a slot not placed yet keeps it pending', () => {
    const cluster = {machines: [{name: 'a', role: 'main'}, {name: 'b', role: 'worker'}, {name: 'c', role: 'data'}]} as Cluster
    const spec = {image: 'api:1', replicas: 3, roles: ['main', 'worker']} as ServiceSpec
    const status = {machines: [{...machine({}), name: 'a', assigned: ['api.1', 'web.1']}, {...machine({}), name: 'b', assigned: ['api.2']}, {...machine({}), name: 'c', assigned: []}]}
    assert.deepEqual(rolloutTargets(cluster, status, 'api', spec), [{machine: 'a', unit: 'api.1'}, {machine: 'b', unit: 'api.2'}, {unit: 'api'}])
    assert.deepEqual(rolloutTargets(cluster, status, 'web', {image: 'web:1', roles: ['main']} as ServiceSpec), [{machine: 'a', unit: 'web'}])
  })

  it('a spec changed only when it differs from the stored one, defaults and key order aside', async () => {
    const stored = await validateServiceSpec({image: 'team/web:abc', env: {A: '1', B: '2'}})
    assert.equal(specChanged(stored, await validateServiceSpec({env: {B: '2', A: '1'}, image: 'team/web:abc', stopTimeout: 10})), false)
    assert.equal(specChanged(stored, await validateServiceSpec({image: 'team/web:abd', env: {A: '1', B: '2'}})), true)
    assert.equal(specChanged(undefined, stored), true)
  })

  it('the digest the stored spec was pinned to is no change, unless cluster.yaml pins another', async () => {
    const written = await validateServiceSpec({image: 'team/web:abc'})
    const pinned = {...written, imageDigest: `sha256:${'1'.repeat(64)}`}
    assert.equal(specChanged(pinned, written), false)
    assert.equal(specChanged(pinned, {...written, imageDigest: `sha256:${'2'.repeat(64)}`}), true)
    assert.equal(specChanged(pinned, {...written, image: 'team/web:abd'}), true)
  })

  it('an unknown service is a usage error naming the ones cluster.yaml has', () => {
    const cluster = {services: {web: {}, db: {}}} as unknown as Cluster
    assert.deepEqual(selectServices(cluster, []), ['web', 'db'])
    assert.throws(() => selectServices(cluster, ['web', 'nope']), (error: Error) => error instanceof UsageError && /nope: is not a service of cluster\.yaml \(name one of: web, db\)/.test(error.message))
  })

  it('a replicated service waits for its rolling update: done when it completed, final when it rolled back', () => {
    const since = '2026-12-02T10:00:00.000Z'
    const record = (state: RolloutRecord['state'], from = 'old', to = 'new'): RolloutRecord => ({service: 'api', from, to, fromRevision: 1, toRevision: 2, state, batchesDone: 1, startedAt: since, updatedAt: since, message: 'm'})
    assert.deepEqual(rolloutGate('new', undefined, ['old', 'old'], since), {machine: '(rollout)', ok: false, final: false, reason: 'waiting for the scheduler'})
    assert.deepEqual(rolloutGate('new', record('running'), ['new', 'old'], since), {machine: '(rollout)', ok: false, final: false, reason: 'running (revision 1 → 2), 1 batches done: m'})
    assert.deepEqual(rolloutGate('new', record('completed'), ['new', 'new'], since), {machine: '(rollout)', ok: true, final: true})
    assert.deepEqual(rolloutGate('new', undefined, ['new', 'new'], since), {machine: '(rollout)', ok: true, final: true})
    assert.deepEqual(rolloutGate('new', record('rolled-back', 'new', 'old'), ['old', 'old'], since), {machine: '(rollout)', ok: false, final: true, reason: 'rolled-back: rolled-back (revision 1 → 2), 1 batches done: m'})
  })

  it('a global service waits for its rollout across its machines; with no copy named (a leader from before), the agents applied it at once', () => {
    const since = '2026-12-02T10:00:00.000Z'
    const running: RolloutRecord = {service: 'cron', from: 'old', to: 'new', state: 'running', batchesDone: 1, startedAt: since, updatedAt: since}
    assert.deepEqual(rolloutGate('new', running, ['new', 'old', 'old'], since, true), {machine: '(rollout)', ok: false, final: false, reason: 'running (revision old → new), 1 batches done'})
    assert.deepEqual(rolloutGate('new', {...running, state: 'completed'}, ['new', 'new', 'new'], since, true), {machine: '(rollout)', ok: true, final: true})
    assert.deepEqual(rolloutGate('new', undefined, [], since, true), {machine: '(rollout)', ok: true, final: true})
    assert.deepEqual(rolloutGate('new', undefined, [], since).ok, false, 'a replicated service with nothing placed yet must wait')
  })
})
