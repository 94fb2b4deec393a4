import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {isReservedName} from '../../src/agent/node/observe.js'
import {serviceNameProblem} from '../../src/spec/service.js'

describe('berth\'s own units', () => {
  it('are never the agent\'s to touch: agent, installer.*, unseal (first boot writes it; a pass once removed it)', () => {
    for (const name of ['air-agent.service', 'air-agent', '/air-agent', 'air-installer.service', 'air-installer.path', 'air-unseal.service', 'air-unseal']) {
      assert.equal(isReservedName('air-', name), true, name)
    }
    for (const name of ['air-web.service', 'air-agents.service', 'air-unsealer.service', 'berth-unseal.service', 'air-web']) {
      assert.equal(isReservedName('air-', name), false, name)
    }
  })

  it('and no service may take their names', () => {
    for (const name of ['agent', 'installer', 'unseal']) assert.match(serviceNameProblem(name)?.message ?? '', /is the name of berth's own unit/, name)
    assert.equal(serviceNameProblem('web'), undefined)
  })
})
