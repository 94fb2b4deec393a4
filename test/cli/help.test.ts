import assert from 'node:assert/strict'
import {readFile, readdir} from 'node:fs/promises'
import path from 'node:path'
import {describe, it} from 'node:test'

import {packageRoot} from '../../src/paths.js'
import {mapBounded} from '../../src/provision/pool.js'
import {berth} from '../support/cli.js'

interface ManifestCommand {
  id: string
  aliases: string[]
  examples?: string[]
}

const manifest = JSON.parse(await readFile(path.join(packageRoot, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, ManifestCommand>}
const commands = Object.values(manifest.commands)
/** `cluster:add-machine` as a user types it. */
const argv = (id: string) => id.split(':')

describe('every command', () => {
  it('is in the shipped manifest (which --help reads instead of loading commands)', async () => {
    const files = (await readdir(path.join(packageRoot, 'dist', 'commands'), {recursive: true}))
      .filter((f) => f.endsWith('.js'))
      .map((f) => f.slice(0, -3).split(path.sep).join(':'))
    assert.deepEqual(commands.map((c) => c.id).sort(), files.sort())
  })

  it('has --help with a usage line and examples', async () => {
    const without = commands.filter((c) => (c.examples ?? []).length === 0).map((c) => c.id)
    assert.deepEqual(without, [], 'commands without examples')
    const results = await mapBounded(commands, 4, async (c) => ({c, result: await berth([...argv(c.id), '--help'])}))
    for (const {c, result} of results) {
      assert.equal(result.exitCode, 0, `${c.id}: ${result.stderr}`)
      assert.match(result.stdout, new RegExp(`USAGE\\n\\s+\\$ berth ${argv(c.id).join(' ')}`), c.id)
      const first = c.examples![0]!.replaceAll('<%= config.bin %>', 'berth')
      assert.ok(result.stdout.includes(first.split('\n')[0]!.trim()), `${c.id}: the first example is shown`)
    }
  })

  it('exits 2 on an unknown flag, naming it', async () => {
    const results = await mapBounded(commands, 4, async (c) => ({c, result: await berth([...argv(c.id), '--no-such-flag'])}))
    for (const {c, result} of results) {
      assert.equal(result.exitCode, 2, `${c.id}: ${result.stderr}`)
      assert.match(result.stderr, /no-such-flag/, c.id)
    }
  })

  it('answers to the seed scripts\' underscore names', async () => {
    const aliases = commands.flatMap((c) => c.aliases.map((alias) => ({c, alias})))
    assert.ok(aliases.some(({alias}) => alias === 'cluster:add_machine'))
    const results = await mapBounded(aliases, 4, async ({c, alias}) => ({c, alias, result: await berth([...argv(alias), '--help'])}))
    for (const {c, alias, result} of results) {
      assert.equal(result.exitCode, 0, `${alias}: ${result.stderr}`)
      assert.match(result.stdout, new RegExp(`\\$ berth ${argv(c.id).join(' ')}`), `${alias} shows ${c.id}'s help`)
    }
  })
})
