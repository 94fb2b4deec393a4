import assert from 'node:assert/strict'
import {setTimeout as sleep} from 'node:timers/promises'
import {describe, it} from 'node:test'

import {BerthError} from '../../src/errors.js'
import {done, notYet, pollUntil, PollTimeout} from '../../src/poll.js'

describe('pollUntil', () => {
  it('returns the value of the first look that is done, looking every interval', async () => {
    let looks = 0
    const value = await pollUntil(async () => (++looks === 3 ? done(`look ${looks}`) : notYet(`look ${looks}`)), {timeoutMs: 5000, intervalMs: 10})
    assert.equal(value, 'look 3')
    assert.equal(looks, 3)
  })

  it('looks once even with no time to wait', async () => {
    let looks = 0
    await assert.rejects(pollUntil(async () => notYet(++looks), {timeoutMs: 0, intervalMs: 10, describe: 'something'}), PollTimeout)
    assert.equal(looks, 1)
  })

  it('starts no look after the deadline, and none after it gave up', async () => {
    const starts: number[] = []
    const began = Date.now()
    // Looks at 0 and 250 ms, then one at the deadline (400 ms), not at 500 ms, past it.
    await assert.rejects(pollUntil(async () => { starts.push(Date.now() - began); return notYet('busy') }, {timeoutMs: 400, intervalMs: 250}), PollTimeout)
    assert.equal(starts.length, 3, `looks at ${starts.join(', ')} ms`)
    // Timers are late, never early: a look starts at most a timer's lateness past the deadline.
    assert.ok(starts[2]! >= 400 && starts[2]! < 460, `the last look started ${starts[2]} ms after the wait began`)
    await sleep(300)
    assert.equal(starts.length, 3)
  })

  it('names what it waited for and the last observation', async () => {
    let looks = 0
    await assert.rejects(pollUntil(async () => notYet(`${++looks} of 3 healthy`), {timeoutMs: 50, intervalMs: 10, describe: 'etcd healthy'}), (error: Error) => {
      assert.ok(error instanceof PollTimeout)
      assert.equal(error.message, `etcd healthy: not within 0.05 s (last: ${looks} of 3 healthy)`)
      return true
    })
  })

  it('reports the last error a look threw, when that was the last look', async () => {
    let looks = 0
    await assert.rejects(pollUntil(async () => {
      looks++
      if (looks % 2 === 0) throw new Error(`refused ${looks}`)
      return notYet('up')
    }, {timeoutMs: 60, intervalMs: 10, describe: 'the registry', onTimeout: (last) => new BerthError(`gave up: ${last.error === undefined ? `seen ${String(last.seen)}` : (last.error as Error).message}`)}), (error: Error) => {
      assert.equal(error.message, looks % 2 === 0 ? `gave up: refused ${looks}` : 'gave up: seen up')
      return true
    })
    let failing = 0
    await assert.rejects(pollUntil(async () => { throw new Error(`refused ${++failing}`) }, {timeoutMs: 40, intervalMs: 10, describe: 'the registry'}), (error: Error) => {
      assert.equal(error.message, `the registry: not within 0.04 s (last: refused ${failing})`)
      assert.equal((error.cause as Error).message, `refused ${failing}`)
      return true
    })
  })

  it('ends at once on an error retryOn refuses, and retries the others', async () => {
    let looks = 0
    const fatal = new BerthError('wrong host key')
    await assert.rejects(pollUntil(async () => {
      looks++
      if (looks < 3) throw new Error('connection refused')
      throw fatal
    }, {timeoutMs: 5000, intervalMs: 5, retryOn: (error) => error !== fatal}), (error) => error === fatal)
    assert.equal(looks, 3)
  })

  it('stops waiting when its signal aborts', async () => {
    let looks = 0
    const controller = new AbortController()
    const reason = new Error('interrupted')
    setTimeout(() => controller.abort(reason), 50)
    const began = Date.now()
    await assert.rejects(pollUntil(async () => notYet(++looks), {timeoutMs: 10_000, intervalMs: 1000, signal: controller.signal}), (error) => error === reason)
    assert.ok(Date.now() - began < 1000, 'the abort cut the interval short')
    assert.equal(looks, 1)
  })
})
