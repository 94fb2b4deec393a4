/**
 * The node layout's constants are what the shipped files say: the agent's unit mark is the
 * first line of the service unit template (the upgrade finds the agent's units by it), and
 * the unit prefix rule is the one both JSON Schemas enforce.
 */
import assert from 'node:assert/strict'
import {readFile} from 'node:fs/promises'
import {describe, it} from 'node:test'

import {AGENT_UNIT_MARK, systemUnitName, UNIT_PREFIX_PATTERN} from '../../src/layout/node.js'
import {shipped} from '../../src/paths.js'

describe('the node layout', () => {
  it('the service unit template starts with the agent\'s mark', async () => {
    const first = (await readFile(shipped('installer', 'templates', 'service.unit.hbs'), 'utf8')).split('\n')[0]!
    assert.ok(first.startsWith(AGENT_UNIT_MARK), first)
  })

  it('the unit prefix rule is the one both schemas enforce', async () => {
    for (const [file, at] of [['cluster.schema.json', ['properties', 'unitPrefix']], ['agent-options.schema.json', ['properties', 'unitPrefix']]] as const) {
      const schema = JSON.parse(await readFile(shipped('schema', file), 'utf8')) as Record<string, unknown>
      const node = at.reduce<Record<string, unknown>>((o, key) => o[key] as Record<string, unknown>, schema)
      assert.equal(node.pattern, UNIT_PREFIX_PATTERN, file)
    }
  })

  it('names berth\'s own units by the prefix', () => {
    assert.equal(systemUnitName('berth-', 'agent'), 'berth-agent.service')
    assert.equal(systemUnitName('x-', 'installer', 'path'), 'x-installer.path')
  })
})
