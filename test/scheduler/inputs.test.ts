/** The leader's view of the machines, pure: the lost clock from a stored `missing` mark, and the marks a pass writes and deletes. */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {machineKeys} from '../../src/layout/records.js'
import {machineStates, machineViews, type MissingSince} from '../../src/scheduler/inputs.js'

const facts = JSON.stringify({role: 'main', labels: {}, capacity: {memoryMb: 1024, cpus: 2}})
const t0 = Date.parse('2026-12-02T10:00:00.000Z')

describe('machine views', () => {
  it('a machine gone since a stored mark is lost lostAfter after the mark, not after this leader first looked; a damaged mark is rewritten', () => {
    const values = {
      [machineKeys('main-1').facts]: facts, [machineKeys('main-1').agent]: '{}',
      [machineKeys('main-2').facts]: facts, [machineKeys('main-2').missing]: JSON.stringify({since: new Date(t0 - 4000).toISOString()}),
      [machineKeys('main-3').facts]: facts,
      [machineKeys('main-4').facts]: facts, [machineKeys('main-4').missing]: 'not json',
    }
    const states = machineStates(values)
    assert.deepEqual(states.map((m) => [m.name, m.alive, m.missingSince ?? null]), [['main-1', true, null], ['main-2', false, t0 - 4000], ['main-3', false, null], ['main-4', false, null]])
    const missing: MissingSince = new Map()
    const {views, lost, marks, recheckInMs} = machineViews(states, missing, t0, 5000)
    assert.deepEqual([views.map((v) => v.name), lost], [['main-1', 'main-2', 'main-3', 'main-4'], []])
    assert.equal(recheckInMs, 1000, 'main-2 is lost 5 s after its mark, 1 s from now')
    assert.deepEqual(marks, {put: [['main-3', t0], ['main-4', t0]], delete: []})
    assert.deepEqual(machineViews(states, missing, t0 + 1000, 5000).lost, ['main-2'])
  })

  it('a machine back deletes its mark; one still gone is not marked again', () => {
    const values = {
      [machineKeys('main-1').facts]: facts, [machineKeys('main-1').agent]: '{}', [machineKeys('main-1').missing]: JSON.stringify({since: new Date(t0).toISOString()}),
      [machineKeys('main-2').facts]: facts, [machineKeys('main-2').missing]: JSON.stringify({since: new Date(t0).toISOString()}),
    }
    assert.deepEqual(machineViews(machineStates(values), new Map(), t0 + 100, 5000).marks, {put: [], delete: ['main-1']})
  })
})
