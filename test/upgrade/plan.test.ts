import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import type {Role} from '../../src/config/types.js'
import {orderOf, planTable, planWaves} from '../../src/upgrade/plan.js'

/** "m1 m2 w1 d1": machines whose role is the name's first letter (main, worker, data). */
function machines(spec: string): {name: string; role: Role}[] {
  const roles: Record<string, Role> = {m: 'main', w: 'worker', d: 'data'}
  return spec.split(' ').map((name) => ({name, role: roles[name[0]!]!}))
}

/** Waves as `w1+w2 | d1 | m1 | m2`. */
function show(spec: string, maxParallel: number, skip: string[] = []): string {
  return planWaves(machines(spec), maxParallel, skip).map((w) => w.machines.join('+')).join(' | ')
}

describe('rolling upgrade plan', () => {
  const cases: [string, number, string[], string][] = [
    // machines in cluster.yaml order, --max-parallel, done already, waves
    ['m1 m2 m3', 1, [], 'm1 | m2 | m3'],
    ['m1 m2 m3', 3, [], 'm1 | m2 | m3'], // mains never together
    ['m1 w1 m2 w2 w3', 1, [], 'w1 | w2 | w3 | m1 | m2'], // workers first
    ['m1 w1 m2 w2 w3', 2, [], 'w1+w2 | w3 | m1 | m2'],
    ['m1 d1 w1 d2 w2', 5, [], 'w1 | w2 | d1 | d2 | m1'], // data after workers, never mixed in one wave
    ['m1 w1 w2 w3 d1 d2 d3', 5, [], 'w1+w2 | w3 | d1+d2 | d3 | m1'], // never every machine of a role at once
    ['w1 m1', 4, [], 'w1 | m1'], // a lone worker still goes
    ['m1 m2 m3 w1 w2', 2, ['w1', 'm1'], 'w2 | m2 | m3'], // resumed
    ['m1', 1, ['m1'], ''],
  ]
  for (const [spec, parallel, done, expected] of cases) {
    it(`${spec} with --max-parallel ${parallel}${done.length > 0 ? `, ${done.join(',')} done` : ''}: ${expected || 'nothing'}`, () => {
      assert.equal(show(spec, parallel, done), expected)
    })
  }

  it('refuses a parallelism below 1', () => {
    assert.throws(() => planWaves(machines('m1'), 0), /maxParallel must be a whole number ≥ 1, not 0/)
  })

  it('keeps the order and prints a table', () => {
    const waves = planWaves(machines('m1 w1 w2 w3 m2'), 2)
    assert.deepEqual(orderOf(waves), ['w1', 'w2', 'w3', 'm1', 'm2'])
    assert.equal(planTable(waves, ['x1']), [
      'wave  role    machines',
      '1     worker  w1, w2',
      '2     worker  w3',
      '3     main    m1',
      '4     main    m2',
      'done          x1',
    ].join('\n'))
  })
})
