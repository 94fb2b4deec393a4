import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {checkTiming, ReplicaChecker, uncheckedHealth} from '../../src/agent/health/checker.js'

const pass = {ok: true}
const fail = {ok: false, error: 'GET / answered 500'}
type Step = [atS: number, result: typeof pass | typeof fail, status: string, failures: number]

/** Feeds results at the given second marks to a checker of a container started at 0 s. */
function run(check: Parameters<typeof checkTiming>[0], steps: Step[]): void {
  const checker = new ReplicaChecker(0, checkTiming(check), 0, 'http', 'abc')
  assert.equal(checker.health.status, 'starting')
  steps.forEach(([at, result, status, failures], i) => {
    checker.record(result, at * 1000)
    const health = checker.health
    assert.deepEqual([health.status, health.failures], [status, failures], `step ${i} at ${at} s`)
    assert.equal(health.lastError, result.ok ? undefined : fail.error)
  })
}

describe('ReplicaChecker', () => {
  const table: {name: string; check: Parameters<typeof checkTiming>[0]; steps: Step[]}[] = [
    {name: 'the first pass makes it healthy', check: {}, steps: [[1, pass, 'healthy', 0]]},
    {name: 'retries consecutive failures make it unhealthy (default 3)', check: {}, steps: [[1, fail, 'starting', 1], [2, fail, 'starting', 2], [3, fail, 'unhealthy', 3], [4, fail, 'unhealthy', 4]]},
    {name: 'a pass resets the count', check: {retries: 2}, steps: [[1, pass, 'healthy', 0], [2, fail, 'healthy', 1], [3, pass, 'healthy', 0], [4, fail, 'healthy', 1], [5, fail, 'unhealthy', 2]]},
    {name: 'an unhealthy copy is healthy again on a pass', check: {retries: 1}, steps: [[1, fail, 'unhealthy', 1], [2, pass, 'healthy', 0]]},
    {name: 'failures in the start period do not count', check: {retries: 1, startPeriod: 5}, steps: [[1, fail, 'starting', 0], [4.9, fail, 'starting', 0], [5, fail, 'unhealthy', 1]]},
    {name: 'a pass in the start period ends it: later failures count', check: {retries: 2, startPeriod: 30}, steps: [[1, pass, 'healthy', 0], [2, fail, 'healthy', 1], [3, fail, 'unhealthy', 2]]},
  ]
  for (const {name, check, steps} of table) it(name, () => run(check, steps))

  it('says when it changed status, and since when', () => {
    const checker = new ReplicaChecker(0, checkTiming({retries: 2}), 0)
    assert.deepEqual([checker.record(fail, 1000), checker.record(fail, 2000), checker.record(fail, 3000), checker.record(pass, 4000)], [false, true, false, true])
    assert.equal(checker.health.since, new Date(4000).toISOString())
  })

  it('fills in the default timing: 10 s interval, 5 s timeout, 3 retries, no start period', () => {
    assert.deepEqual(checkTiming(undefined), {intervalMs: 10_000, timeoutMs: 5000, retries: 3, startPeriodMs: 0})
    assert.deepEqual(checkTiming({interval: 0.5, timeout: 0.2, retries: 1, startPeriod: 60}), {intervalMs: 500, timeoutMs: 200, retries: 1, startPeriodMs: 60_000})
  })
})

describe('uncheckedHealth', () => {
  it('is starting until the container has run for minHealthySeconds (10 s), then healthy since that moment', () => {
    assert.deepEqual(uncheckedHealth(0, 9999, 'abc'), {status: 'starting', since: new Date(0).toISOString(), failures: 0, check: 'none', container: 'abc'})
    assert.deepEqual(uncheckedHealth(0, 10_000), {status: 'healthy', since: new Date(10_000).toISOString(), failures: 0, check: 'none'})
    assert.equal(uncheckedHealth(0, 4000, undefined, 3).status, 'healthy')
  })
})
