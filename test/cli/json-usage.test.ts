/**
 * Bad usage with --json: one JSON error on stdout (type, message, problems), nothing of
 * oclif's internals, exit 2, for each kind of parse error oclif raises.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {berth} from '../support/cli.js'

const cases: [string, string[], {path?: string; message: RegExp}[]][] = [
  ['a missing required flag', ['agent', 'sync', '--json'], [{message: /^Missing required flag options$/}]],
  ['two flags that exclude each other', ['service', 'ls', '--json', '--ca', 'x', '--insecure-skip-verify'], [{message: /^--ca=x cannot also be provided when using --insecure-skip-verify$/}]],
  ['a missing argument', ['service', 'deploy', '--json'], [{path: 'file', message: /^missing required argument$/}]],
  ['an unknown flag', ['cluster', 'status', '--json', '--bogus'], [{path: '--bogus', message: /^no such flag$/}]],
  ['a flag without its value', ['cluster', 'backup', '--json', '--out'], [{message: /^Flag --out expects a value$/}]],
  ['a value not among the options', ['cluster', 'new-cloud-config', '--json', '--format', 'tarball'], [{message: /tarball/}]],
]

describe('--json with bad usage', () => {
  for (const [title, argv, expected] of cases) {
    it(`${title}: \`berth ${argv.join(' ')}\` prints one JSON error and exits 2`, async () => {
      const result = await berth(argv, {env: {BERTH_AGENT_OPTIONS: ''}})
      assert.equal(result.exitCode, 2, result.stdout + result.stderr)
      assert.ok(result.stdout.split('\n').length < 40, `${result.stdout.split('\n').length} lines`)
      const {error} = JSON.parse(result.stdout) as {error: {type: string; message: string; problems: {path?: string; message: string; fix?: string}[]}}
      assert.equal(error.type, 'UsageError')
      assert.equal(error.problems.length, expected.length, JSON.stringify(error.problems))
      expected.forEach((want, i) => {
        const got = error.problems[i]!
        assert.equal(got.path, want.path)
        assert.match(got.message, want.message)
        assert.equal(got.fix, `see \`berth ${argv.slice(0, 2).join(' ')} --help\``)
      })
      assert.doesNotMatch(result.stdout, /"pjson"|"oclif"|"parse"/)
    })
  }
})
