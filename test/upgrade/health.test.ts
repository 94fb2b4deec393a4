import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import type {AgentRecord, InstalledRecord} from '../../src/layout/records.js'
import type {MemberStatus} from '../../src/etcd/members.js'
import {type HealthInput, healthProblem} from '../../src/upgrade/health.js'

const member = (name: string, extra: Partial<MemberStatus> = {}): MemberStatus => ({id: name, name, peerUrls: [], clientUrls: [], isLearner: false, healthy: true, ...extra})
const installed: InstalledRecord = {version: '0.2.0-bbb', image: '10.0.0.2:5000/berth/installer:0.2.0-bbb', result: 'ok', at: '2026-01-01T10:00:05Z'}
const agent: AgentRecord = {version: '0.2.0-bbb', converged: true, lastPass: '2026-01-01T10:00:06Z', services: {web: 'active'}, errors: {}}
const healthy: HealthInput = {machine: 'main-2', members: [member('main-1'), member('main-2'), member('main-3')], expectedMembers: 3, installed, agent}
const target = {previousAt: '2026-01-01T09:00:00Z', version: '10.0.0.2:5000/berth/installer:0.2.0-bbb'}

describe('upgrade health gate', () => {
  const cases: [string, Partial<HealthInput>, string | undefined][] = [
    ['all well', {}, undefined],
    ['etcd unreachable', {members: 'no answer at http://10.0.0.11:2379'}, 'etcd: no answer at http://10.0.0.11:2379'],
    ['a member down', {members: [member('main-1'), member('main-2', {healthy: false, problem: 'no answer'}), member('main-3')]}, 'etcd: main-2 no answer'],
    ['a learner', {members: [member('main-1'), member('main-2'), member('main-3', {isLearner: true})]}, 'etcd: main-3 is a learner'],
    ['a member gone', {members: [member('main-1'), member('main-3')]}, 'etcd has 2 members, cluster.yaml has 3 main machines'],
    ['no installer record', {installed: undefined}, 'main-2 has no installer record yet'],
    ['the old installer record', {installed: {...installed, at: '2026-01-01T09:00:00Z'}}, 'main-2\'s installer has not recorded this upgrade yet (last record 2026-01-01T09:00:00Z)'],
    ['installer failed', {installed: {...installed, result: 'failed', error: 'Pull the agent image: not found'}}, 'main-2\'s installer failed: Pull the agent image: not found'],
    ['another version', {installed: {...installed, version: '0.1.0-aaa', image: '10.0.0.2:5000/berth/installer:0.1.0-aaa'}}, 'main-2 has version 0.1.0-aaa (10.0.0.2:5000/berth/installer:0.1.0-aaa) installed, not 10.0.0.2:5000/berth/installer:0.2.0-bbb'],
    ['agent dead', {agent: undefined}, 'main-2\'s agent is not running (no agent record: its lease expired or it never reported)'],
    ['not converged', {agent: {...agent, converged: false, errors: {web: 'pull failed'}}}, 'main-2\'s agent has not converged: web: pull failed'],
    ['a service not active', {agent: {...agent, services: {web: 'activating', db: 'active'}}}, 'main-2\'s services not active: web activating'],
  ]
  for (const [what, change, expected] of cases) {
    it(`${what}: ${expected ?? 'healthy'}`, () => {
      assert.equal(healthProblem({...healthy, ...change}, target), expected)
    })
  }

  it('accepts the version as the record\'s version or tag, and any record without a previous one', () => {
    assert.equal(healthProblem(healthy, {version: '0.2.0-bbb'}), undefined)
    assert.match(healthProblem(healthy, {version: '0.3.0'}) ?? '', /not 0\.3\.0/)
  })
})
