import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {describeRecord, finishRecord, isUnfinished, markDone, markFailed, remaining, resumeRecord, startRecord} from '../../src/upgrade/progress.js'

describe('rolling upgrade progress record', () => {
  it('goes from started to failed to resumed to finished', () => {
    const start = startRecord('ab12', 'reg/berth/installer:2', ['w1', 'm1', 'm2'], new Date('2026-01-01T10:00:00Z'))
    assert.ok(isUnfinished(start))
    const failed = markFailed(markDone(start, 'w1'), {machine: 'm1', step: 'Run the installer', reason: 'exit 1'})
    assert.deepEqual(remaining(failed), ['m1', 'm2'])
    assert.equal(describeRecord(failed), 'rolling upgrade ab12 to reg/berth/installer:2 started 2026-01-01T10:00:00.000Z has done 1 of 3 machines; stopped at m1 (Run the installer): exit 1')
    const resumed = resumeRecord(failed)
    assert.equal(resumed.failed, undefined)
    assert.deepEqual(resumed.done, ['w1'])
    const done = finishRecord(markDone(markDone(markDone(resumed, 'm1'), 'm2'), 'm2'))
    assert.deepEqual(done.done, ['w1', 'm1', 'm2'])
    assert.equal(isUnfinished(done), false)
    assert.equal(isUnfinished(undefined), false)
  })
})
