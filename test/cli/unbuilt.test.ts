import assert from 'node:assert/strict'
import {cp, mkdir} from 'node:fs/promises'
import path from 'node:path'
import {describe, it} from 'node:test'
import {execa} from 'execa'

import {packageRoot} from '../../src/paths.js'
import {scratch} from '../support/cli.js'

describe('bin/run.js in a tree that was never built', () => {
  it('says in one line to run npm run build, and exits 1', async () => {
    const tree = await scratch('berth-unbuilt-')
    await mkdir(path.join(tree, 'bin'))
    await cp(path.join(packageRoot, 'bin', 'run.js'), path.join(tree, 'bin', 'run.js'))
    await cp(path.join(packageRoot, 'package.json'), path.join(tree, 'package.json'))
    for (const args of [['--help'], ['cluster', 'validate']]) {
      const result = await execa(process.execPath, [path.join(tree, 'bin', 'run.js'), ...args], {reject: false})
      assert.equal(result.exitCode, 1, String(result.stderr))
      assert.equal(result.stdout, '')
      assert.equal(result.stderr, `berth: ${tree}/ has not been built (no dist/): run \`npm run build\` there first`)
    }
  })
})
