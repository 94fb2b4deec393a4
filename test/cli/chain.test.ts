/**
 * The chain that plans are built with, as a table of what each step saw: a step gets what
 * the inputs and the steps before it handed on, a step that does not apply is not listed,
 * and a stopped plan gives what it has so far but no result.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {Chain} from '../../src/cli/chain.js'
import {planOrRun, runSteps} from '../../src/cli/progress.js'

describe('Chain', () => {
  it('hands each step what the inputs and the steps before it returned; the notes are the progress lines', async () => {
    const seen: string[] = []
    const plan = new Chain({base: 10})
      .step('one', async ({base}) => {
        seen.push(`one: ${base}`)
        return {note: 'made a', a: base + 1}
      })
      .stepWhen(false, 'skipped', async () => ({b: 0}))
      .stepWhen(true, 'two', async ({a, b}) => {
        seen.push(`two: ${a} ${String(b)}`)
        return {b: a * 2}
      })
      .step('three', async ({a, b}) => {
        seen.push(`three: ${a} ${String(b)}`)
        return {note: `sum ${a + (b ?? 0)}`}
      }, async () => 'would add them')
    assert.deepEqual(plan.steps.map((s) => s.title), ['one', 'two', 'three'])
    assert.throws(() => plan.result(), /the plan stopped after 0 of 3 steps/)
    assert.deepEqual((await planOrRun(plan, {dryRun: true, mode: 'silent', log: () => {}}))?.plan, ['one', 'two', 'three: would add them'])
    assert.deepEqual(seen, [], 'a dry run runs no step')
    await runSteps(plan.steps, 'silent')
    assert.deepEqual(seen, ['one: 10', 'two: 11 undefined', 'three: 11 22'])
    assert.deepEqual(plan.result(), {base: 10, a: 11, b: 22})
  })

  it('a step that throws stops the plan: what came before is handed, there is no result', async () => {
    const plan = new Chain({})
      .step('one', async () => ({a: 1}))
      .step('two', async (): Promise<{b: number}> => {
        throw new Error('broken')
      })
      .step('three', async ({b}) => ({note: String(b)}))
    await assert.rejects(runSteps(plan.steps, 'silent'), /broken/)
    assert.deepEqual(plan.handed(), {a: 1})
    assert.throws(() => plan.result(), /the plan stopped after 1 of 3 steps/)
  })
})
