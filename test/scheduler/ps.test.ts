/** `service ps`'s rows from etcd's values: assigned, pending with its reason, global copies per machine, a machine down, an unknown name. */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {UsageError} from '../../src/errors.js'
import {replicaLines, replicaRows, type PsInputs} from '../../src/scheduler/ps.js'

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
    assert.match(lines[0]!, /^REPLICA\s+MACHINE\s+DESIRED\s+OBSERVED\s+CONTAINER\s+DIGEST\s+SINCE$/)
    assert.match(lines[1]!, /^cron\.main-1\s+main-1\s+running\s+active\s+berth-cron\s+-\s+-$/, 'an unpinned image has no digest')
    assert.match(lines[2]!, /^web\.1\s+main-1\s+running\s+active\s+berth-web\.1\s+sha256:dddddddddddd\s+30 s ago$/)
    assert.equal(rows[1]!.digest, `sha256:${'d'.repeat(64)}`, '--json carries the whole digest')
    assert.match(lines[4]!, /pending: no machine left/)
  })

  it('keeps one service, and an unknown name is bad usage listing the names there are', () => {
    assert.deepEqual(replicaRows(inputs, 'berth-', 'cron').map((r) => r.replica), ['cron.main-1'])
    assert.throws(() => replicaRows(inputs, 'berth-', 'nope'), (e: unknown) => e instanceof UsageError && /use one of: cron, web/.test(e.message))
  })
})
