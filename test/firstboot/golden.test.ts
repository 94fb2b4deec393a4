import assert from 'node:assert/strict'
import {mkdir, readFile, readdir, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {describe, it} from 'node:test'

import {FORMATS, firstBootFileName, renderFirstBoot, writeFirstBoot} from '../../src/firstboot/index.js'
import {MANIFEST} from '../../src/out-dir.js'
import {packageRoot} from '../../src/paths.js'
import {scratch} from '../support/cli.js'
import {fixtureCluster} from '../support/fixture.js'

/** Golden files: `UPDATE_GOLDEN=1` rewrites them after a deliberate change; review the diff. */
const goldenDir = path.join(packageRoot, 'test', 'fixtures', 'golden')

describe('first-boot files match the golden files', () => {
  for (const format of FORMATS) {
    it(`${format}: every machine of the fixture cluster`, async () => {
      const {cluster, stateDir} = await fixtureCluster()
      const out = path.join(await scratch(), 'out')
      const result = await writeFirstBoot(cluster, {format, outDir: out, stateDir})
      assert.deepEqual((await readdir(out)).sort(), [...cluster.machines.map((m) => firstBootFileName(m, format)), 'known_hosts', MANIFEST].sort())
      for (const file of [...result.files, path.join(out, 'known_hosts')]) {
        const golden = path.join(goldenDir, format, path.basename(file))
        const actual = await readFile(file, 'utf8')
        if (process.env.UPDATE_GOLDEN) {
          await mkdir(path.dirname(golden), {recursive: true})
          await writeFile(golden, actual)
        }
        assert.equal(actual, await readFile(golden, 'utf8'), `${format}/${path.basename(file)} differs from its golden file`)
      }
    })
  }

  it('a machine joining a running cluster gets state existing and the current members', async () => {
    const {cluster, stateDir} = await fixtureCluster()
    const newcomer = {name: 'main-4', ip: '10.20.0.14', role: 'main' as const, labels: {}}
    const grown = {...cluster, machines: [...cluster.machines, newcomer]}
    const members = ['main-1', 'main-2', 'main-4'].map((name, i) => ({name, peerUrl: `http://10.20.0.${[11, 12, 14][i]}:2380`}))
    const {files} = await renderFirstBoot(grown, [newcomer], {state: 'existing', members, endpoints: ['http://10.20.0.11:2379']}, 'cloud-init', stateDir)
    const text = new Map(files).get('main-4.yaml') ?? ''
    assert.match(text, /ETCD_INITIAL_CLUSTER_STATE="existing"/)
    assert.match(text, /ETCD_INITIAL_CLUSTER="main-1=http:\/\/10\.20\.0\.11:2380,main-2=http:\/\/10\.20\.0\.12:2380,main-4=http:\/\/10\.20\.0\.14:2380"/)
    assert.doesNotMatch(text, /main-3/, 'a member that left is not in the initial cluster')
  })
})
