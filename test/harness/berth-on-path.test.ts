/**
 * After setup, `berth` is on the PATH: setup.sh's last step links DIR/berth to the
 * checkout's bin/run.js (scripts/link-bin.sh). Run here into a temporary DIR, through
 * setup.sh's own step, then `berth --version` found by the shell on that PATH.
 */
import assert from 'node:assert/strict'
import {readFile, readlink, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {describe, it} from 'node:test'
import {execa} from 'execa'

import {packageRoot} from '../../src/paths.js'
import {scratch} from '../support/cli.js'

const setup = path.join(packageRoot, 'scripts', 'setup.sh')

/** Runs setup.sh's `link_berth` step alone (the rest installs packages and builds), with BERTH_BIN_DIR. */
async function linkStep(dir: string) {
  const script = `set -euo pipefail; cd ${JSON.stringify(packageRoot)}; step() { :; }; source <(sed -n '/^link_berth() {$/,/^}$/p' scripts/setup.sh); link_berth`
  return execa('bash', ['-c', script], {env: {BERTH_BIN_DIR: dir}, reject: false})
}

describe('berth on the PATH after setup', () => {
  it('setup.sh links the checkout\'s bin/run.js as the last step, and the shell finds `berth`', async () => {
    assert.match(await readFile(setup, 'utf8'), /^build\nlink_berth\n/m, 'setup.sh runs link_berth after the build')
    const dir = path.join(await scratch(), 'bin')
    for (const run of [1, 2]) {
      const result = await linkStep(dir)
      assert.equal(result.exitCode, 0, `run ${run}: ${result.stderr}`)
    }
    assert.equal(await readlink(path.join(dir, 'berth')), path.join(packageRoot, 'bin', 'run.js'))
    const found = await execa('bash', ['-c', 'command -v berth && berth --version'], {env: {PATH: `${dir}:${process.env.PATH}`}, cwd: '/'})
    const [where, version] = found.stdout.split('\n')
    assert.equal(where, path.join(dir, 'berth'))
    const {version: ours} = JSON.parse(await readFile(path.join(packageRoot, 'package.json'), 'utf8')) as {version: string}
    assert.match(version ?? '', new RegExp(`^berth/${ours.replace(/\./g, '\\.')} `))
  })

  it('a berth that is not its link is left alone, with a message', async () => {
    const dir = await scratch()
    await writeFile(path.join(dir, 'berth'), '#!/bin/sh\necho mine\n', {mode: 0o755})
    const result = await linkStep(dir)
    assert.equal(result.exitCode, 1)
    assert.match(result.stderr, /berth exists and is not a link berth made; left alone/)
    assert.equal(await readFile(path.join(dir, 'berth'), 'utf8'), '#!/bin/sh\necho mine\n')
  })
})
