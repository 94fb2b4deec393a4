/**
 * What `local-cluster destroy` (and a failed start's undo) removes from the cluster's
 * folder: what berth wrote there, never a file someone else put there.
 */
import assert from 'node:assert/strict'
import {mkdir, readdir, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {describe, it} from 'node:test'

import {removeLocalFolder} from '../../src/local-cluster/destroy.js'
import {scratch} from '../support/cli.js'

/** A local cluster's folder as start, provision and the Vagrant provider leave it. */
async function berthsFolder(dir: string): Promise<void> {
  for (const sub of ['boot', 'boot-coreos', 'state/secrets', 'vagrant/seeds/main-1']) await mkdir(path.join(dir, sub), {recursive: true})
  for (const file of ['record.json', 'cluster.yaml', 'id_ed25519', 'id_ed25519.pub', 'cluster.yaml.tmp-0a1b2c3d', 'boot/main-1.yaml', 'state/hostkeys.json', 'state/secrets/master.key', 'vagrant/cluster.json']) {
    await writeFile(path.join(dir, file), 'x')
  }
}

describe('removeLocalFolder', () => {
  it('removes the folder when berth wrote everything in it', async () => {
    const dir = path.join(await scratch(), 'local')
    await berthsFolder(dir)
    assert.deepEqual(await removeLocalFolder(dir), [])
    await stat(dir).then(() => assert.fail('the folder is gone'), () => undefined)
  })

  it('keeps the folder and every entry berth did not write, and says which', async () => {
    const dir = path.join(await scratch(), 'local')
    await berthsFolder(dir)
    await writeFile(path.join(dir, 'notes.md'), 'mine')
    await mkdir(path.join(dir, 'experiments'))
    assert.deepEqual((await removeLocalFolder(dir)).sort(), ['experiments', 'notes.md'])
    assert.deepEqual((await readdir(dir)).sort(), ['experiments', 'notes.md'])
  })

  it('does nothing for a folder that is not there', async () => {
    assert.deepEqual(await removeLocalFolder(path.join(await scratch(), 'never')), [])
  })
})
