/**
 * `berth install --dry-run` on the real etcd of scripts/services.sh: each step says what it
 * would do with its arguments (which services it puts where, which images it pulls, which
 * files it writes, which keys it records), read from node.json, cluster.json and etcd, and
 * nothing is written to etcd or the node's folders.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {readdir, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {after, describe, it} from 'node:test'

import {RecordStore} from '../../src/etcd/records.js'
import {berth, scratch} from '../support/cli.js'
import {deleteEtcdPrefix, etcdUrl} from '../support/services.js'

const prefix = `/berth-test-install-dry-${randomBytes(3).toString('hex')}`

describe('install --dry-run (real etcd)', () => {
  const stores: RecordStore[] = []
  after(async () => {
    await deleteEtcdPrefix(prefix)
    stores.forEach((s) => s.close())
  })

  it('names the services it would put, the images, files and keys; changes nothing', async () => {
    const dir = await scratch('berth-install-dry-')
    const [etc, units] = [path.join(dir, 'etc'), path.join(dir, 'units')]
    const node = {cluster: 'dry', machine: 'main-1', ip: '127.0.0.1', role: 'main', unitPrefix: 'berth-', etcdEndpoints: [etcdUrl()], registry: '127.0.0.1:5055', installerImage: '127.0.0.1:5055/berth/installer:1.0'}
    const cluster = {
      cluster: 'dry', unitPrefix: 'berth-', installerImage: '127.0.0.1:5055/berth/installer:1.2', registry: '127.0.0.1:5055', etcdPrefix: prefix,
      services: {web: {image: 'examples/web:1'}, api: {image: 'examples/api:2'}},
    }
    await writeFile(path.join(dir, 'node.json'), JSON.stringify(node))
    await writeFile(path.join(dir, 'cluster.json'), JSON.stringify(cluster))
    const store = await RecordStore.connect([etcdUrl()])
    stores.push(store)
    // An operator changed api already: the installer leaves it, and pulls the image etcd names.
    await store.put(`${prefix}/services/api`, {image: 'examples/api:3'})

    const run = await berth(['install', '--node', path.join(dir, 'node.json'), '--cluster', path.join(dir, 'cluster.json'), '--etc-dir', etc, '--unit-dir', units, '--wait', '30', '--dry-run'])
    assert.equal(run.exitCode, 0, run.stderr)
    assert.equal(run.stdout, [
      'main-1 (main): would install 127.0.0.1:5055/berth/installer:1.2',
      `1. Put the cluster's initial services into etcd where absent: would put web under ${prefix}/services/ (api there already: left as they are)`,
      '2. Pull the agent image and the images of this machine\'s services: would pull 127.0.0.1:5055/berth/installer:1.2, 127.0.0.1:5055/examples/api:3, 127.0.0.1:5055/examples/web:1 (3 at a time)',
      `3. Write the agent's options and unit, and start it: would write ${etc}/agent.json and ${units}/berth-agent.service (agent image 127.0.0.1:5055/berth/installer:1.2) where their bytes differ, then \`systemctl daemon-reload\` if the unit changed, \`systemctl enable berth-agent.service\` and restart it if either changed (else start it)`,
      `4. Wait for the agent's first pass: would wait up to 30 s for berth-agent.service to report a pass of the installed version under ${prefix}/machines/main-1/agent`,
      `5. Record the installed version in etcd: would write {version, image: 127.0.0.1:5055/berth/installer:1.2, result: ok} to ${prefix}/machines/main-1/installed`,
    ].join('\n'))
    assert.deepEqual([...(await store.getAll(`${prefix}/`)).keys()], [`${prefix}/services/api`], 'the dry run put nothing into etcd')
    assert.deepEqual(await readdir(dir), ['cluster.json', 'node.json'], 'and wrote no file')

    const json = await berth(['install', '--node', path.join(dir, 'node.json'), '--cluster', path.join(dir, 'cluster.json'), '--etc-dir', etc, '--unit-dir', units, '--dry-run', '--json'])
    assert.equal(json.exitCode, 0, json.stderr)
    assert.equal((JSON.parse(json.stdout) as {plan: string[]}).plan.length, 5)
  })

  it('a missing node.json is a usage error naming the file and what writes it', async () => {
    const dir = await scratch('berth-install-dry-')
    const run = await berth(['install', '--node', path.join(dir, 'none.json'), '--cluster', path.join(dir, 'cluster.json'), '--dry-run'])
    assert.equal(run.exitCode, 2)
    assert.match(run.stderr, /none\.json: cannot read it \(ENOENT\) \(the first-boot file writes it\)/)
  })
})
