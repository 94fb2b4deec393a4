/**
 * No dockerd: every local-cluster command that needs Docker is a usage error (exit 2)
 * naming where it looked and the fix, and a start leaves nothing behind.
 */
import assert from 'node:assert/strict'
import {readdir} from 'node:fs/promises'
import path from 'node:path'
import {describe, it} from 'node:test'

import {berth, scratch} from '../support/cli.js'

describe('local-cluster without dockerd', () => {
  it('start and build-image exit 2 naming DOCKER_HOST, and start makes nothing', async () => {
    const dir = await scratch('berth-no-dockerd-')
    const socket = path.join(dir, 'no-dockerd.sock')
    const env = {BERTH_STATE_DIR: path.join(dir, 'state'), DOCKER_HOST: `unix://${socket}`}
    for (const args of [['local-cluster', 'start', '1', '--name', 'nd'], ['local-cluster', 'build-image']]) {
      const result = await berth(args, {env})
      assert.equal(result.exitCode, 2, `${args.join(' ')}: ${result.stderr}`)
      assert.ok(result.stderr.includes(`cannot reach dockerd at unix://${socket}`), result.stderr)
      assert.match(result.stderr, /start dockerd or set DOCKER_HOST/)
    }
    const left = await readdir(path.join(dir, 'state', 'local-clusters')).catch(() => [])
    assert.deepEqual(left, [], 'no cluster folder is left')
  })
})
