/**
 * Clients are made in one wiring place per process: the flows' step builders take the
 * flow's etcd client (SharedEtcd) and never make one. A builder that opens its own would
 * pass every behaviour test (etcd answers either way), so this reads their source.
 */
import assert from 'node:assert/strict'
import {readFile} from 'node:fs/promises'
import {describe, it} from 'node:test'

import {shipped} from '../../src/paths.js'

/** The step builders of the flows that change machines: each is handed its etcd client. */
const BUILDERS = [
  'src/cluster/add-machine.ts', 'src/cluster/remove-machine.ts', 'src/cluster/drain.ts', 'src/upgrade/machine.ts', 'src/upgrade/rolling.ts',
  'src/upgrade/gate.ts', 'src/recovery/repair.ts', 'src/local-cluster/grow.ts', 'src/provision/install.ts', 'src/provision/install-ops.ts',
]
/** What makes an etcd client: etcd3 itself, berth's openers, or a flow's shared client. */
const MAKERS = /\bnew Etcd3\b|\bopenEtcd\(|\bEtcdCluster\.connect\(|\bRecordStore\.connect\(|\bsharedEtcd\(|from 'etcd3'/g

describe('one etcd client per flow', () => {
  it('no step builder makes an etcd client', async () => {
    const found: string[] = []
    for (const file of BUILDERS) {
      const text = await readFile(shipped(file), 'utf8')
      for (const match of text.matchAll(MAKERS)) found.push(`${file}: ${match[0]}`)
    }
    assert.deepEqual(found, [])
  })
})
