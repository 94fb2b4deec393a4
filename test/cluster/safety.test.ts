import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {checkAdd, checkRemove} from '../../src/cluster/safety.js'
import type {MemberStatus} from '../../src/etcd/members.js'

function members(spec: string): MemberStatus[] {
  // "HHD L": healthy, healthy, down voters and a learner.
  return [...spec.replace(/ /g, '')].map((c, i) => ({
    id: String(i + 1), name: `m${i + 1}`, peerUrls: [`http://10.0.0.${i + 1}:2380`], clientUrls: [`http://10.0.0.${i + 1}:2379`],
    isLearner: c === 'L', healthy: c !== 'D', problem: c === 'D' ? 'no answer' : undefined,
  }))
}

describe('removing a member', () => {
  const cases: [string, number, boolean, boolean][] = [
    // members, index removed, safe, overridable
    ['HHH', 0, true, true],
    ['HHD', 0, false, true], // 2 left, 1 healthy, quorum 2
    ['HHD', 2, true, true], // removing the down one is what brings it back to health
    ['HHHD', 0, true, true], // 3 left, 2 healthy, quorum 2
    ['HHDD', 0, false, true], // 2 of 4 healthy cannot even commit the change
    ['H', 0, false, false], // the last member
    ['HHL', 2, true, true], // a learner has no vote
  ]
  for (const [spec, index, safe, overridable] of cases) {
    it(`${spec} without m${index + 1}: ${safe ? 'safe' : 'refused'}`, () => {
      const list = members(spec)
      const verdict = checkRemove(list, list[index]!)
      assert.equal(verdict.safe, safe, verdict.reason)
      assert.equal(verdict.overridable, overridable)
    })
  }

  it('says the numbers', () => {
    const list = members('HHD')
    assert.equal(checkRemove(list, list[0]!).reason, 'removing m1 would leave 1 healthy of 2 etcd members; quorum needs 2 (down: m3: no answer)')
  })
})

describe('adding a member', () => {
  it('is safe with every voter healthy', () => assert.equal(checkAdd(members('HHH'), 'http://10.0.0.9:2380').safe, true))
  it('is refused, overridably, with a voter down', () => {
    const verdict = checkAdd(members('HHD'), 'http://10.0.0.9:2380')
    assert.deepEqual([verdict.safe, verdict.overridable], [false, true])
    assert.match(verdict.reason!, /2 of 3 etcd members are healthy; with 4 members quorum needs 3/)
  })
  it('is refused past nine voters', () => assert.equal(checkAdd(members('HHHHHHHHH'), 'http://10.0.0.99:2380').overridable, false))
  it('resumes its own learner but waits for another one', () => {
    const list = members('HHHL')
    assert.equal(checkAdd(list, list[3]!.peerUrls[0]!).safe, true)
    assert.match(checkAdd(list, 'http://10.0.0.99:2380').reason!, /learner m4 is still being added/)
  })
})
