import assert from 'node:assert/strict'
import {readFile, readdir} from 'node:fs/promises'
import path from 'node:path'
import {describe, it} from 'node:test'
import {pathToFileURL} from 'node:url'
import {execa} from 'execa'

import {answeredFromManifest} from '../../src/cli/fast-start.js'
import {packageRoot} from '../../src/paths.js'
import {mapBounded} from '../../src/provision/pool.js'
import {berth, type CliResult} from '../support/cli.js'

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

/** `berth ARGS` with @oclif/core loaded from node_modules, as before the bundle existed. */
async function unbundled(args: string[]): Promise<CliResult> {
  const cli = pathToFileURL(path.join(packageRoot, 'bin', 'run.js')).href
  const code = `import {execute} from '@oclif/core/execute'; await execute({dir: ${JSON.stringify(cli)}, args: ${JSON.stringify(args)}})`
  const result = await execa(process.execPath, ['--input-type=module', '-e', code], {cwd: packageRoot, env: {NO_COLOR: '1'}, reject: false})
  return {exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr)}
}

/** Whether a `berth ARGS` process loaded @oclif/core from node_modules (test/fixtures/report-oclif.mjs says). */
async function loadsOclifFromNodeModules(args: string[]): Promise<boolean> {
  const report = path.join(packageRoot, 'test', 'fixtures', 'report-oclif.mjs')
  const result = await berth(args, {env: {NODE_OPTIONS: `--import ${pathToFileURL(report).href}`}})
  const said = /oclif from node_modules: (true|false)/.exec(result.stderr)
  assert.ok(said, `berth ${args.join(' ')} ran to its end: ${result.stderr}`)
  return said[1] === 'true'
}

describe('help and the version from the bundled oclif', () => {
  it('are answered without loading @oclif/core from node_modules', async () => {
    for (const args of [[], ['--help'], ['cluster', 'new-cloud-config', '--help'], ['--version']]) {
      assert.equal(await loadsOclifFromNodeModules(args), false, `berth ${args.join(' ')}`)
    }
    // A command runs with node_modules' oclif, the copy its classes extend.
    assert.equal(await loadsOclifFromNodeModules(['cluster', 'validate', '-c', '/nonexistent/cluster.yaml']), true)
  })

  it('print what oclif from node_modules prints, for every command', async () => {
    const invocations = [[], ['--help'], ['--version'], ['cluster', '--help'], ['nosuch', '--help'], ...commands.map((c) => [...argv(c.id), '--help'])]
    const results = await mapBounded(invocations, 4, async (args) => ({args, bundled: await berth(args), plain: await unbundled(args)}))
    for (const {args, bundled, plain} of results) {
      assert.deepEqual(bundled, plain, `berth ${args.join(' ')}`)
    }
  })

  it('are the only invocations routed to the bundle', () => {
    assert.equal(answeredFromManifest([]), true)
    assert.equal(answeredFromManifest(['--version']), true)
    assert.equal(answeredFromManifest(['cluster', 'validate', '--help']), true)
    assert.equal(answeredFromManifest(['service', 'deploy', 'web', '--help']), true)
    assert.equal(answeredFromManifest(['cluster', 'validate']), false, 'a command')
    assert.equal(answeredFromManifest(['cluster']), false, 'a topic: oclif looks for a command first')
    assert.equal(answeredFromManifest(['agent', 'run', '--', '--help']), false, 'an argument after --')
    assert.equal(answeredFromManifest(['cluster', 'validate', '--version']), false, 'the version only leads')
    assert.equal(answeredFromManifest(['cluster', 'validate', '-h']), false, 'oclif\'s help flag is --help alone')
  })
})
