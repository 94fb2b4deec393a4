/**
 * `service` and `secrets` commands driven by cluster.yaml alone: the admin token, each
 * machine's API certificate and the master key come from berth's state dir, the agent is
 * the first of the cluster's that answers, and secrets go to the cluster's etcd. The
 * cluster's machines are loopback addresses: an admin API on 127.0.0.1:8443 (the port every
 * provisioned agent uses), nothing on 127.0.0.2, and the test etcd as the main machine's.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {copyFile, mkdir, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {EtcdStore} from '../../src/agent/store/store-etcd.js'
import {openSecret} from '../../src/secrets/envelope.js'
import {createMasterKey, LocalKeyProvider} from '../../src/secrets/local-key.js'
import {generateEd25519} from '../../src/ssh/keygen.js'
import {testApi} from '../agent/api-support.js'
import {testService} from '../agent/store-support.js'
import {berth, scratch, type CliResult} from '../support/cli.js'

const etcd = new URL(testService('BERTH_TEST_ETCD'))
const name = `acc-${randomBytes(3).toString('hex')}`
const secretName = `ACCESS_${randomBytes(4).toString('hex').toUpperCase()}`
const value = `canary-${randomBytes(12).toString('hex')}`

function ok(result: CliResult): CliResult {
  assert.equal(result.exitCode, 0, result.stderr)
  return result
}

/** A cluster.yaml of loopback machines in `dir`, and the state root holding its secrets. */
async function loopbackCluster(dir: string, machines: string[]): Promise<{file: string; root: string; secrets: string}> {
  const pub = path.join(dir, 'provisioner.pub')
  await writeFile(pub, `${generateEd25519().public}\n`)
  const file = path.join(dir, 'cluster.yaml')
  await writeFile(file, [
    `name: ${name}`,
    'registry: {url: "127.0.0.1:5000"}',
    `ssh: {authorizedKeyFiles: [${pub}]}`,
    `etcd: {clientPort: ${etcd.port}}`,
    'machines:',
    ...machines,
    '',
  ].join('\n'))
  const root = path.join(dir, 'state')
  const secrets = path.join(root, 'clusters', name, 'secrets')
  await mkdir(path.join(secrets, 'machines'), {recursive: true, mode: 0o700})
  return {file, root, secrets}
}

describe('service and secrets commands from cluster.yaml alone', async () => {
  const dir = await scratch('berth-access-')
  const api = await testApi({listen: '127.0.0.1:8443'})
  // The worker on 127.0.0.2 comes first and answers nothing: the commands go on to main-1.
  const cluster = await loopbackCluster(dir, ['  - {name: worker-1, ip: 127.0.0.2, role: worker}', '  - {name: main-1, ip: 127.0.0.1, role: main}'])
  const target = ['-c', cluster.file, '--state-dir', cluster.root]
  const store = new EtcdStore({endpoints: [etcd.origin], prefix: '/berth'})
  before(async () => {
    await copyFile(path.join(api.dir, 'api-token'), path.join(cluster.secrets, 'api-token'))
    for (const m of ['worker-1', 'main-1']) await mkdir(path.join(cluster.secrets, 'machines', m), {recursive: true})
    await copyFile(path.join(api.dir, 'api.crt'), path.join(cluster.secrets, 'machines', 'main-1', 'api.crt'))
    await copyFile(path.join(api.dir, 'api.crt'), path.join(cluster.secrets, 'machines', 'worker-1', 'api.crt'))
    await createMasterKey(path.join(cluster.secrets, 'master.key'))
  })
  after(async () => {
    await store.deleteSecret(secretName).catch(() => false)
    await store.close()
  })

  it('deploys, lists and removes services through the first agent that answers', async () => {
    const file = path.join(dir, 'services.yaml')
    await writeFile(file, 'services:\n  web: {image: "registry.local/web:1"}\n')
    assert.equal(ok(await berth(['service', 'deploy', file, ...target])).stdout, 'Deployed web (registry.local/web:1).')
    assert.deepEqual([...(await api.store.services()).keys()], ['web'])
    const listed = JSON.parse(ok(await berth(['service', 'ls', '--json', ...target])).stdout) as {services: Array<{name: string}>}
    assert.deepEqual(listed.services.map((s) => s.name), ['web'])
    assert.equal(ok(await berth(['service', 'rm', 'web', ...target])).stdout, 'Removed web.')
    assert.deepEqual([...(await api.store.services()).keys()], [])
  })

  it('seals a secret with the cluster\'s master key into the cluster\'s etcd, and lists and removes it', async () => {
    ok(await berth(['secrets', 'set', secretName, ...target], {input: value}))
    const blob = await store.sealedSecret(secretName)
    assert.ok(blob, 'the secret is in the cluster\'s etcd')
    assert.ok(!blob.toString('latin1').includes(value), 'sealed, not in the clear')
    const key = await LocalKeyProvider.fromFile(path.join(cluster.secrets, 'master.key'))
    assert.equal((await openSecret(secretName, blob, key)).toString(), value)
    assert.ok((JSON.parse(ok(await berth(['secrets', 'list', '--json', ...target])).stdout) as {secrets: string[]}).secrets.includes(secretName))
    ok(await berth(['secrets', 'rm', secretName, ...target]))
    assert.equal(await store.sealedSecret(secretName), undefined)
  })

  it('says what is missing: no admin token yet, a token file without --url, no agent answering', async () => {
    const empty = await loopbackCluster(await scratch('berth-access-'), ['  - {name: main-1, ip: 127.0.0.1, role: main}'])
    const noToken = await berth(['service', 'ls', '-c', empty.file, '--state-dir', empty.root])
    assert.equal(noToken.exitCode, 2)
    assert.match(noToken.stderr, /api-token: cluster acc-\w+ has no admin token in berth's state dir \(run berth cluster upload-secrets/)

    const tokenOnly = await berth(['service', 'ls', '--token-file', path.join(api.dir, 'api-token'), ...target])
    assert.equal(tokenOnly.exitCode, 2)
    assert.match(tokenOnly.stderr, /--token-file: goes with --url/)

    const silent = await loopbackCluster(await scratch('berth-access-'), ['  - {name: main-1, ip: 127.0.0.2, role: main}', '  - {name: worker-1, ip: 127.0.0.3, role: worker}'])
    await copyFile(path.join(api.dir, 'api-token'), path.join(silent.secrets, 'api-token'))
    for (const m of ['main-1', 'worker-1']) {
      await mkdir(path.join(silent.secrets, 'machines', m), {recursive: true})
      await copyFile(path.join(api.dir, 'api.crt'), path.join(silent.secrets, 'machines', m, 'api.crt'))
    }
    const none = await berth(['service', 'ls', '-c', silent.file, '--state-dir', silent.root])
    assert.equal(none.exitCode, 1)
    assert.match(none.stderr, /^berth: no agent of cluster acc-\w+ answered on port 8443: main-1 \(ECONNREFUSED\), worker-1 \(ECONNREFUSED\); check berth cluster status, or pass --url$/)
    assert.ok(!none.stderr.includes(api.token))
  })
})
