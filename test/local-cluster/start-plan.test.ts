/**
 * `local-cluster start --dry-run` against the host's real dockerd: each step says what it
 * would do with its arguments (the files it writes, the nodes it creates, their addresses,
 * the waits), and nothing is made: no folder, no network, no node. A start of a name whose
 * cluster exists is refused before any step, dry or not.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdir, readdir, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {describe, it} from 'node:test'

import {DockerProvider} from '../../src/local-cluster/docker-provider.js'
import {berth, scratch} from '../support/cli.js'

describe('local-cluster start --dry-run (real dockerd)', () => {
  it('prints each step with the files, nodes and addresses it would make, and makes nothing', async () => {
    const root = await scratch('berth-start-dry-')
    const name = `dry-${randomBytes(3).toString('hex')}`
    const dir = path.join(root, 'local-clusters', name)
    const run = await berth(['local-cluster', 'start', '3', '--name', name, '--state-dir', root, '--timeout', '90', '--dry-run'])
    assert.equal(run.exitCode, 0, run.stderr)
    const id = /\(run ([0-9a-f]{8})\)/.exec(run.stdout)?.[1]
    assert.ok(id, run.stdout)
    const boot = ['main-1', 'main-2', 'main-3'].map((m) => path.join(dir, 'boot', `${m}.yaml`)).join(', ')
    assert.equal(run.stdout, [
      '1. Ensure the node and registry images: would build the node and registry images unless images of their inputs\' hash exist (as `local-cluster build-image` does)',
      `2. Create the cluster network: would create the network of local cluster ${name} (run ${id}) on a free /24 subnet`,
      '3. Start the registry: would start the registry from the registry image at .2 of that subnet, with a volume for its images',
      `4. Write cluster.yaml, the provisioner key and each node's cloud-init file: would write ${dir}/cluster.yaml (cluster ${name}: main-1 at .11, main-2 at .12, main-3 at .13, role main), ${dir}/id_ed25519 and ${dir}/id_ed25519.pub, ${boot}, and the host keys in ${dir}/state`,
      `5. Boot 3 nodes from their first-boot files: would create nodes main-1, main-2, main-3 from the node image, each seeded with its file of ${dir}/boot (NoCloud meta-data instance-id <name>-${id})`,
      `6. Wait for SSH with the host keys berth generated: would wait up to 90 s for each node to run \`true\` over SSH as root with ${dir}/id_ed25519, accepting only the host key in ${dir}/state`,
      `7. Wait for 3 healthy etcd members: would wait up to 90 s for 3 healthy voting members (main-1, main-2, main-3), then write ${dir}/record.json`,
    ].join('\n'))
    assert.deepEqual(await readdir(root), [], 'no folder')
    const provider = new DockerProvider()
    assert.deepEqual(await provider.listNetworks(name), [], 'no network')
    assert.deepEqual(await provider.listNodes(name), [], 'no node')

    const json = await berth(['local-cluster', 'start', '1', '--name', name, '--state-dir', root, '--dry-run', '--json'])
    assert.equal(json.exitCode, 0, json.stderr)
    assert.match((JSON.parse(json.stdout) as {plan: string[]}).plan[3]!, /main-1 at \.11, role main/)
  })

  it('refuses a name whose cluster exists before any step, dry run or not (exit 2)', async () => {
    const root = await scratch('berth-start-dry-')
    const name = `dry-${randomBytes(3).toString('hex')}`
    await mkdir(path.join(root, 'local-clusters', name), {recursive: true})
    await writeFile(path.join(root, 'local-clusters', name, 'record.json'), JSON.stringify({name}))
    const run = await berth(['local-cluster', 'start', '--name', name, '--state-dir', root, '--dry-run'])
    assert.equal(run.exitCode, 2)
    assert.match(run.stderr, /a local cluster of that name exists/)
  })
})
