/** The pure rollout step as tables: batches, the health gate, superseding, rollback order, pause without a revision, a global service's machines; and the update policy's spec checks. */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {shortSpecHash} from '../../src/hash.js'
import type {ReplicaHealth, RevisionRecord, RolloutRecord} from '../../src/layout/records.js'
import {healthyNew, rollPolicy, rolloutStep, runningHash, surgeOf, type RolloutInput} from '../../src/scheduler/rollout.js'
import {placeAndRoll, rolloutPass, rolloutRecords, type RolloutValues} from '../../src/scheduler/rollouts.js'
import {place} from '../../src/scheduler/placement.js'
import {demandOf} from '../../src/scheduler/demand.js'
import type {MachineView} from '../../src/scheduler/types.js'
import type {StoredAssignment} from '../../src/scheduler/inputs.js'
import {outcomeOf, updatedSpec} from '../../src/scheduler/rollout-view.js'
import {UsageError} from '../../src/errors.js'
import {validateServiceSpec, type ServiceSpec} from '../../src/spec/service.js'

const t0 = Date.parse('2026-12-01T10:00:00.000Z')
const at = (s: number) => new Date(t0 + s * 1000).toISOString()
const spec = (image: string, update: object = {}) => validateServiceSpec({image, replicas: 3, update: {healthyDeadline: 60, ...update}})
const planned = ['web.1', 'web.2', 'web.3'].map((replica, i) => ({replica, service: 'web', machine: `main-${i + 1}`}))
const healthy = (container: string): ReplicaHealth => ({status: 'healthy', since: at(0), failures: 0, check: 'none', container})

async function setup(update: object = {}) {
  const [v1, v2] = [await spec('web:1', update), await spec('web:2', update)]
  const [h1, h2] = [shortSpecHash(v1), shortSpecHash(v2)]
  const revisions: RevisionRecord[] = [{seq: 1, spec: v1, hash: h1, at: at(0), origin: 'cli'}, {seq: 2, spec: v2, hash: h2, at: at(1), origin: 'cli'}]
  return {v1, v2, h1, h2, revisions}
}

function input(spec: ServiceSpec, running: Record<string, string>, revisions: RevisionRecord[], record: RolloutRecord | undefined, health: Record<string, ReplicaHealth>, now = 10): RolloutInput {
  return {service: 'web', spec, planned, running: new Map(Object.entries(running)), record, revisions, health: (_, replica) => health[replica], now: t0 + now * 1000}
}

describe('rolloutStep', () => {
  it('starts a rollout at the first replica, holds it until a new container is healthy, then takes the next', async () => {
    const {v2, h1, h2, revisions} = await setup()
    const old = {'web.1': healthy('old1'), 'web.2': healthy('old2'), 'web.3': healthy('old3')}
    const start = rolloutStep(input(v2, {'web.1': h1, 'web.2': h1, 'web.3': h1}, revisions, undefined, old))
    assert.deepEqual(Object.fromEntries(start.hashes), {'web.1': h2, 'web.2': h1, 'web.3': h1})
    assert.deepEqual(start.record?.batch, {replicas: ['web.1'], old: {'web.1': 'old1'}, startedAt: at(10), deadline: at(70)})
    assert.deepEqual([start.record?.state, start.record?.fromRevision, start.record?.toRevision, start.active, start.recheckInMs], ['running', 1, 2, true, 60_000])

    const running = {'web.1': h2, 'web.2': h1, 'web.3': h1}
    const waiting = rolloutStep(input(v2, running, revisions, start.record, old, 20))
    assert.equal(waiting.record, undefined, 'the old container\'s health must not pass the gate')
    assert.deepEqual([waiting.hashes.get('web.2'), waiting.recheckInMs], [h1, 50_000])

    const next = rolloutStep(input(v2, running, revisions, start.record, {...old, 'web.1': healthy('new1')}, 30))
    assert.deepEqual(Object.fromEntries(next.hashes), {'web.1': h2, 'web.2': h2, 'web.3': h1})
    assert.deepEqual([next.record?.batchesDone, next.record?.batch?.replicas], [1, ['web.2']])
  })

  it('a newer spec supersedes a running rollout; a failed batch rolls back to the revision before, taking the unhealthy replica first', async () => {
    const {h1, h2, revisions} = await setup()
    const v3 = await spec('web:3')
    const h3 = shortSpecHash(v3)
    const all = [...revisions, {seq: 3, spec: v3, hash: h3, at: at(2), origin: 'cli' as const}]
    const rolling: RolloutRecord = {service: 'web', from: h1, to: h2, fromRevision: 1, toRevision: 2, state: 'running', batchesDone: 1, batch: {replicas: ['web.2'], old: {}, startedAt: at(0), deadline: at(60)}, startedAt: at(0), updatedAt: at(0)}
    const superseded = rolloutStep(input(v3, {'web.1': h2, 'web.2': h2, 'web.3': h1}, all, rolling, {}))
    assert.deepEqual([superseded.record?.from, superseded.record?.to, superseded.record?.fromRevision, superseded.record?.batch?.replicas], [h2, h3, 2, ['web.1']])
    assert.match(superseded.record?.message ?? '', new RegExp(`supersedes the rollout to ${h2}`))

    const failing = {...superseded.record!}
    const failed = rolloutStep(input(v3, {'web.1': h3, 'web.2': h2, 'web.3': h1}, all, failing, {'web.1': {status: 'unhealthy', since: at(5), failures: 3, check: 'http', container: 'new1', lastError: 'refused'}}, 80))
    assert.equal(failed.rollbackTo?.seq, 2)
    assert.deepEqual([failed.record?.state, failed.record?.from, failed.record?.to], ['rolling-back', h3, h2])
    assert.equal(failed.record?.message, `batch 1 (web.1) was not healthy within 60 s: web.1 unhealthy (refused); rolling back to revision 2`)
  })

  it('without a kept revision to go back to, a failed batch pauses and says so', async () => {
    const {v2, h1, h2} = await setup()
    const record: RolloutRecord = {service: 'web', from: h1, to: h2, toRevision: 2, state: 'running', batchesDone: 0, batch: {replicas: ['web.1'], old: {'web.1': 'old1'}, startedAt: at(0), deadline: at(60)}, startedAt: at(0), updatedAt: at(0)}
    const step = rolloutStep(input(v2, {'web.1': h2, 'web.2': h1, 'web.3': h1}, [], record, {'web.1': healthy('old1')}, 61))
    assert.equal(step.rollbackTo, undefined)
    assert.equal(step.record?.state, 'paused')
    assert.equal(step.record?.message, 'batch 1 (web.1) was not healthy within 60 s: web.1 still runs its old container old1; no kept revision to roll back to; paused (berth service update or rollback to go on)')
  })

  it('start-first: extra copies of the new spec come first, placed past the count while the rollout runs; then the old copies roll in place; the extras go at the end', async () => {
    const {v1, v2, h1, h2, revisions} = await setup({order: 'start-first'})
    const old = {'web.1': healthy('old1'), 'web.2': healthy('old2'), 'web.3': healthy('old3')}
    const running = {'web.1': h1, 'web.2': h1, 'web.3': h1}
    assert.equal(surgeOf(v2, undefined), 0)
    // The pass that sees the change starts the rollout; its placement has no extra slot yet.
    const start = rolloutStep(input(v2, running, revisions, undefined, old))
    assert.deepEqual(Object.fromEntries(start.hashes), running)
    assert.deepEqual([start.record?.state, start.record?.batch, start.recheckInMs], ['running', undefined, 100])
    assert.equal(surgeOf(v2, start.record), 1)
    assert.equal(surgeOf(await spec('web:2'), start.record), 0, 'stop-first has no extra copy')
    // The next pass places web.4 (demand 3 + 1): it is batch 1, and nothing old is touched until it is healthy.
    const surgePlan = [...planned, {replica: 'web.4', service: 'web', machine: 'main-1'}]
    const withSurge = (spec_: ServiceSpec, run: Record<string, string>, record: RolloutRecord | undefined, health: Record<string, ReplicaHealth>, now: number): RolloutInput => ({...input(spec_, run, revisions, record, health, now), planned: surgePlan})
    const surge = rolloutStep(withSurge(v2, running, start.record, old, 11))
    assert.deepEqual(Object.fromEntries(surge.hashes), {...running, 'web.4': h2})
    assert.deepEqual([surge.record?.batch?.replicas, surge.record?.batch?.surge], [['web.4'], true])
    const waiting = rolloutStep(withSurge(v2, {...running, 'web.4': h2}, surge.record, old, 20))
    assert.deepEqual([waiting.record, waiting.hashes.get('web.1')], [undefined, h1])
    const first = rolloutStep(withSurge(v2, {...running, 'web.4': h2}, surge.record, {...old, 'web.4': {...healthy('new4'), since: at(15)}}, 21))
    assert.deepEqual([first.record?.surged, first.record?.batchesDone, first.record?.batch?.replicas, first.hashes.get('web.1')], [true, 1, ['web.1'], h2])
    // The failure of a surge batch rolls back like any other: the extra copy is what goes back first.
    const failed = rolloutStep(withSurge(v2, {...running, 'web.4': h2}, surge.record, {...old, 'web.4': {status: 'unhealthy', since: at(15), failures: 3, check: 'http', container: 'new4', lastError: '404'}}, 80))
    assert.equal(failed.rollbackTo?.seq, 1)
    assert.match(failed.record?.message ?? '', /^batch 1 \(web\.4\) was not healthy within 60 s: web\.4 unhealthy \(404\); rolling back to revision 1$/)
    void v1
  })

  it('a change of what restarts nothing (autoUpgrade, a scale, the policy) names the new hash at once, with no rollout', async () => {
    const {v2, h2, revisions} = await setup()
    const watched = await validateServiceSpec({...v2, autoUpgrade: {pollSeconds: 300}})
    assert.equal(runningHash(watched), runningHash(v2))
    const all = [...revisions, {seq: 3, spec: watched, hash: shortSpecHash(watched), at: at(2), origin: 'cli' as const}]
    const step = rolloutStep(input(watched, {'web.1': h2, 'web.2': h2, 'web.3': h2}, all, undefined, {}))
    assert.deepEqual([step.record, step.active, [...new Set(step.hashes.values())]], [undefined, false, [shortSpecHash(watched)]])
  })

  it('healthyNew: a new container that passes, or without the old one known, health since the batch began', () => {
    assert.equal(healthyNew(healthy('b'), 'a', at(0)), true)
    assert.equal(healthyNew(healthy('a'), 'a', at(0)), false)
    assert.equal(healthyNew({...healthy('a'), status: 'starting'}, undefined, at(0)), false)
    assert.equal(healthyNew(healthy('a'), undefined, at(1)), false)
    assert.equal(healthyNew(undefined, undefined, at(0)), false)
    // A new container checked under another revision (the one before, say) does not count for the target's batch.
    assert.equal(healthyNew({...healthy('b'), revision: 'r2'}, 'a', at(0), 'r3'), false)
    assert.equal(healthyNew({...healthy('b'), revision: 'r3'}, 'a', at(0), 'r3'), true)
  })
})

describe('a global service\'s rollout (rolloutPass)', () => {
  const machines = ['main-1', 'main-2', 'main-3']
  const copies = machines.map((machine) => ({replica: `cron.${machine}`, service: 'cron', machine}))
  const global = (image: string, update: object = {}) => validateServiceSpec({image, update: {healthyDeadline: 60, ...update}})
  /** The values a pass reads: each machine's agent record with the health of its copy, keyed by the service's name (its unit's). */
  const values = (health: Record<string, ReplicaHealth>, records: Map<string, RolloutRecord>, revisions: RevisionRecord[]): RolloutValues => ({
    revisions: Object.fromEntries(revisions.map((r) => [`/berth/revisions/cron/${String(r.seq).padStart(10, '0')}`, JSON.stringify(r)])),
    rollouts: records,
    machines: Object.fromEntries(machines.map((m) => [`/berth/machines/${m}/agent`, JSON.stringify({version: 't', converged: true, lastPass: at(0), services: {cron: 'active'}, errors: {}, health: health[m] ? {cron: health[m]} : {}})])),
  })
  const stored = (hashes: Record<string, string>): StoredAssignment[] => copies.map((a) => ({...a, record: {machine: a.machine, specHash: hashes[a.machine]!, since: at(0)}}))

  it('rolls one machine at a time, gated on the health its agent reports under the service\'s name; start-first is rolled stop-first', async () => {
    const [v1, v2] = [await global('cron:1', {order: 'start-first'}), await global('cron:2', {order: 'start-first'})]
    const [h1, h2] = [shortSpecHash(v1), shortSpecHash(v2)]
    const revisions: RevisionRecord[] = [{seq: 1, spec: v1, hash: h1, at: at(0), origin: 'cli'}, {seq: 2, spec: v2, hash: h2, at: at(1), origin: 'cli'}]
    const plan = {assignments: copies, pending: []}
    const old = Object.fromEntries(machines.map((m) => [m, {...healthy(`old-${m}`), revision: h1}]))
    const all = (h: string) => Object.fromEntries(machines.map((m) => [m, h]))

    assert.equal(surgeOf(v2, {service: 'cron', from: h1, to: h2, state: 'running', batchesDone: 0, startedAt: at(0), updatedAt: at(0)}), 0, 'a global service has no extra copy')
    assert.equal(rollPolicy(v2).order, 'stop-first')
    const start = rolloutPass([['cron', v2]], plan, stored(all(h1)), values(old, new Map(), revisions), t0 + 10_000)
    assert.deepEqual(Object.fromEntries(start.hashes), {'cron.main-1': h2, 'cron.main-2': h1, 'cron.main-3': h1})
    assert.deepEqual(start.records[0]?.batch, {replicas: ['cron.main-1'], old: {'cron.main-1': 'old-main-1'}, startedAt: at(10), deadline: at(70)})
    const record = new Map([['cron', start.records[0]!]])
    const moved = stored({...all(h1), 'main-1': h2})

    const waiting = rolloutPass([['cron', v2]], plan, moved, values(old, record, revisions), t0 + 20_000)
    assert.deepEqual([waiting.records, waiting.hashes.get('cron.main-2'), waiting.active], [[], h1, true], 'the old container\'s health passed the gate')
    const next = rolloutPass([['cron', v2]], plan, moved, values({...old, 'main-1': {...healthy('new-main-1'), revision: h2}}, record, revisions), t0 + 30_000)
    assert.deepEqual([next.records[0]?.batchesDone, next.records[0]?.batch?.replicas, next.hashes.get('cron.main-2'), next.hashes.get('cron.main-3')], [1, ['cron.main-2'], h2, h1])
  })

  it('a copy the leader has not named yet (a machine that just joined) runs the current spec at once; a damaged rollout record reads as none', async () => {
    const [v1, v2] = [await global('cron:1'), await global('cron:2')]
    const [h1, h2] = [shortSpecHash(v1), shortSpecHash(v2)]
    const revisions: RevisionRecord[] = [{seq: 1, spec: v1, hash: h1, at: at(0), origin: 'cli'}, {seq: 2, spec: v2, hash: h2, at: at(1), origin: 'cli'}]
    const two = stored({'main-1': h1, 'main-2': h1}).slice(0, 2)
    const pass = rolloutPass([['cron', v2]], {assignments: copies, pending: []}, two, values({}, new Map(), revisions), t0)
    assert.deepEqual(Object.fromEntries(pass.hashes), {'cron.main-1': h2, 'cron.main-2': h1, 'cron.main-3': h2})
    assert.deepEqual([...rolloutRecords({'/berth/rollouts/cron': '{"to":', '/berth/rollouts/web': JSON.stringify({to: h2}), '/berth/rollouts/x/y': '{}'})].map(([k, r]) => [k, r.to]), [['web', h2]])
  })

  it('a change is followed to its end: with no assignment naming any copy (a leader from before), every machine applied it at once', () => {
    const fresh = () => true
    assert.equal(outcomeOf('h2', undefined, [], fresh, true)?.state, 'applied')
    assert.equal(outcomeOf('h2', undefined, [], fresh), undefined, 'a replicated service with nothing placed yet waits')
    assert.equal(outcomeOf('h2', undefined, ['h1', 'h1'], fresh, true), undefined, 'a global service whose copies are named waits for its rollout')
  })
})

describe('the update policy in a spec', () => {
  it('is checked with a path and a fix: start-first, and a deadline that leaves no time to become healthy', async () => {
    await assert.rejects(validateServiceSpec({image: 'web:1', replicas: 2, ports: ['8080:80'], update: {order: 'start-first', minHealthySeconds: 30, healthyDeadline: 20}}), (error: unknown) => {
      assert.ok(error instanceof UsageError)
      assert.deepEqual(error.problems.map((p) => [p.path, p.message]), [
        ['update/order', 'is start-first, but the service publishes a host port: a new copy cannot start beside the old one on its machine'],
        ['update/healthyDeadline', 'is 20 s, not more than minHealthySeconds (30 s): a copy without a health check could never be healthy in time'],
      ])
      return true
    })
    await assert.rejects(validateServiceSpec({image: 'web:1', update: {parallelism: 0, failureAction: 'retry'}}), (error: unknown) => error instanceof UsageError && error.problems.length === 2 && error.problems.every((p) => p.path?.startsWith('update/')))
    assert.deepEqual((await validateServiceSpec({image: 'web:1', replicas: 2, update: {parallelism: 2}})).update, {parallelism: 2})
    // Without a published host port, start-first is accepted.
    assert.deepEqual((await validateServiceSpec({image: 'web:1', replicas: 2, update: {order: 'start-first'}})).update, {order: 'start-first'})
  })
})

describe('service update\'s spec', () => {
  it('a new image drops the old image\'s digest pin; --env sets and KEY= removes', async () => {
    const current = await validateServiceSpec({image: 'web:1', imageDigest: `sha256:${'a'.repeat(64)}`, env: {A: '1', B: '2'}, replicas: 2})
    const next = updatedSpec(current, {image: 'web:2', env: ['A=', 'C=3']})
    assert.deepEqual([next.image, next.imageDigest, next.env], ['web:2', undefined, {B: '2', C: '3'}])
    assert.equal(updatedSpec(current, {env: ['A=9']}).imageDigest, current.imageDigest, 'an env change keeps the pin')
  })
})

describe('one pass places and rolls (placeAndRoll)', () => {
  const views: MachineView[] = ['main-1', 'main-2', 'main-3'].map((name) => ({name, role: 'main', labels: {}, capacity: {memoryMb: 4096, cpus: 2}, draining: false}))
  const health = {'web.1': healthy('old1'), 'web.2': healthy('old2'), 'web.3': healthy('old3')}
  const values = (revisions: RevisionRecord[]): RolloutValues => ({
    revisions: Object.fromEntries(revisions.map((r) => [`/berth/revisions/web/${String(r.seq).padStart(10, '0')}`, JSON.stringify(r)])),
    rollouts: new Map(),
    machines: Object.fromEntries(views.map((v, i) => [`/berth/machines/${v.name}/agent`, JSON.stringify({version: 't', converged: true, lastPass: at(0), services: {}, errors: {}, health: {[`web.${i + 1}`]: health[`web.${i + 1}` as keyof typeof health]}})])),
  })
  const current = (h: string): StoredAssignment[] => planned.map((a) => ({...a, record: {machine: a.machine, specHash: h, since: at(0)}}))
  const placeOn = (demands: Parameters<typeof place>[0]) => place(demands, views, planned)

  it('a start-first change gets its extra copy in the pass that sees it, as batch 1, with nothing old touched', async () => {
    const {v2, h1, h2, revisions} = await setup({order: 'start-first'})
    const {plan, rollouts} = placeAndRoll([['web', v2]], placeOn, demandOf, current(h1), values(revisions), t0 + 10_000)
    assert.deepEqual(plan.assignments.map((a) => a.replica).sort(), ['web.1', 'web.2', 'web.3', 'web.4'])
    assert.deepEqual(Object.fromEntries(rollouts.hashes), {'web.1': h1, 'web.2': h1, 'web.3': h1, 'web.4': h2})
    assert.equal(rollouts.records.length, 1)
    assert.deepEqual([rollouts.records[0]?.state, rollouts.records[0]?.batch?.replicas, rollouts.records[0]?.batch?.surge, rollouts.records[0]?.fromRevision], ['running', ['web.4'], true, 1])
    // A rollout step alone (the pass before this one) would have placed no extra copy and come back in 100 ms.
    const alone = rolloutPass([['web', v2]], placeOn([demandOf('web', v2)]), current(h1), values(revisions), t0 + 10_000)
    assert.deepEqual([alone.records[0]?.batch, alone.recheckInMs], [undefined, 100])
  })

  it('a stop-first change is the same as one rollout step: batch 1 moves in place, no extra copy', async () => {
    const {v2, h1, h2, revisions} = await setup()
    const {plan, rollouts} = placeAndRoll([['web', v2]], placeOn, demandOf, current(h1), values(revisions), t0 + 10_000)
    assert.deepEqual(plan.assignments.map((a) => a.replica).sort(), ['web.1', 'web.2', 'web.3'])
    assert.deepEqual(Object.fromEntries(rollouts.hashes), {'web.1': h2, 'web.2': h1, 'web.3': h1})
    assert.deepEqual(rollouts, rolloutPass([['web', v2]], plan, current(h1), values(revisions), t0 + 10_000))
  })
})
