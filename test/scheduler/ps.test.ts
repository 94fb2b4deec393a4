/** `service ps`'s rows from etcd's values: assigned, pending with its reason, global copies per machine, a machine down, an unknown name. */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {UsageError} from '../../src/errors.js'
import {replicaLines, replicaRows, rolloutLines, type PsInputs} from '../../src/scheduler/ps.js'

const since = '2026-12-01T10:00:00.000Z'
const inputs: PsInputs = {
  services: {'/berth/services/web': JSON.stringify({image: 'web:1', replicas: 3, imageDigest: `sha256:${'d'.repeat(64)}`}), '/berth/services/cron': JSON.stringify({image: 'cron:1'})},
  assignments: {
    '/berth/assignments/web/web.1': JSON.stringify({machine: 'main-1', specHash: 'a', since}),
    '/berth/assignments/web/web.2': JSON.stringify({machine: 'main-2', specHash: 'a', since}),
  },
  pending: {at: since, leader: 'main-1', pending: [{replica: 'web.3', service: 'web', reason: 'no machine left with a free copy (maxPerMachine 1)'}]},
  machines: {'/berth/machines/main-1/agent': JSON.stringify({services: {'web.1': 'active', cron: 'active'}})},
}

describe('service ps', () => {
  it('shows each replica with its machine, states, container and since; pending with the reason; global copies as SERVICE.MACHINE', () => {
    const rows = replicaRows(inputs, 'berth-')
    assert.deepEqual(rows.map((r) => [r.replica, r.machine, r.observed, r.container]), [
      ['cron.main-1', 'main-1', 'active', 'berth-cron'],
      ['web.1', 'main-1', 'active', 'berth-web.1'],
      ['web.2', 'main-2', 'machine down', 'berth-web.2'],
      ['web.3', undefined, 'pending', undefined],
    ])
    const lines = replicaLines(rows, Date.parse(since) + 30_000)
    assert.match(lines[0]!, /^REPLICA\s+MACHINE\s+DESIRED\s+OBSERVED\s+CONTAINER\s+DIGEST\s+REV\s+SINCE$/)
    assert.match(lines[1]!, /^cron\.main-1\s+main-1\s+running\s+active\s+berth-cron\s+-\s+-\s+-$/, 'an unpinned image has no digest')
    assert.match(lines[2]!, /^web\.1\s+main-1\s+running\s+active\s+berth-web\.1\s+sha256:dddddddddddd\s+a\s+30 s ago$/)
    assert.equal(rows[1]!.digest, `sha256:${'d'.repeat(64)}`, '--json carries the whole digest')
    assert.match(lines[4]!, /pending: no machine left/)
  })

  it('keeps one service, and an unknown name is bad usage listing the names there are', () => {
    assert.deepEqual(replicaRows(inputs, 'berth-', 'cron').map((r) => r.replica), ['cron.main-1'])
    assert.throws(() => replicaRows(inputs, 'berth-', 'nope'), (e: unknown) => e instanceof UsageError && /use one of: cron, web/.test(e.message))
  })

  it('shows the revision each replica runs, by number where it is kept, and a line per rollout', () => {
    const rollout = {service: 'web', from: 'a', to: 'b', fromRevision: 1, toRevision: 2, state: 'running', batchesDone: 1, batch: {replicas: ['web.2'], old: {}, startedAt: since, deadline: '2026-12-01T10:02:00.000Z'}, startedAt: since, updatedAt: since}
    const rolling: PsInputs = {
      ...inputs,
      assignments: {...inputs.assignments, '/berth/assignments/web/web.2': JSON.stringify({machine: 'main-2', specHash: 'b', since})},
      revisions: {'/berth/revisions/web/0000000001': JSON.stringify({seq: 1, hash: 'a', spec: {image: 'web:1'}, at: since, origin: 'cli'}), '/berth/revisions/web/0000000002': JSON.stringify({seq: 2, hash: 'b', spec: {image: 'web:2'}, at: since, origin: 'cli'})},
      rollouts: {'/berth/rollouts/web': JSON.stringify(rollout)},
    }
    assert.deepEqual(replicaRows(rolling, 'berth-', 'web').map((r) => [r.replica, r.revision]), [['web.1', '1'], ['web.2', '2'], ['web.3', undefined]])
    assert.deepEqual(rolloutLines(rolling, 'web'), ['rollout web: running (revision 1 → 2), 1 batches done, batch 2 (web.2) until 2026-12-01T10:02:00.000Z'])
    assert.deepEqual(rolloutLines(rolling, 'cron'), [])
  })

  it('shows the revision of each global copy: its assignment\'s while the leader names one, else the one its agent reports', () => {
    const global: PsInputs = {
      services: {'/berth/services/cron': JSON.stringify({image: 'cron:2'})},
      assignments: {'/berth/assignments/cron/cron.main-1': JSON.stringify({machine: 'main-1', specHash: 'c1', since})},
      machines: {
        '/berth/machines/main-1/agent': JSON.stringify({services: {cron: 'active'}, health: {cron: {status: 'healthy', revision: 'c2'}}}),
        '/berth/machines/main-2/agent': JSON.stringify({services: {cron: 'active'}, health: {cron: {status: 'healthy', revision: 'c2'}}}),
        '/berth/machines/main-3/agent': JSON.stringify({services: {cron: 'active'}}),
      },
      revisions: {'/berth/revisions/cron/0000000001': JSON.stringify({seq: 1, hash: 'c1', spec: {image: 'cron:1'}, at: since, origin: 'cli'})},
    }
    assert.deepEqual(replicaRows(global, 'berth-').map((r) => [r.replica, r.revision]), [['cron.main-1', '1'], ['cron.main-2', 'c2'], ['cron.main-3', undefined]])
  })
})
