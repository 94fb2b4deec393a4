/**
 * `nodeSecrets: {mode: kms}` against the real test sshd and the KMS wire protocol spoken to
 * the real SDK: upload-secrets seals each node secret with KMS on the provisioner and leaves
 * the blobs and kms.json in the machine's sealed folder; `berth node-secrets unseal`, what a
 * machine runs at boot, opens them into temp names (all or none). The node's own boot path
 * (its script and unit) is tested with systemd-creds in test/provision/local-cluster.test.ts.
 */
import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, appendFileSync, renameSync} from 'node:fs'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, test} from 'node:test'

import {CreateKeyCommand, KMSClient} from '@aws-sdk/client-kms'
import {execa} from 'execa'

import {secretsDir} from '../../src/provision/node-secrets.js'
import {berth} from '../support/cli.js'
import {FakeKms} from '../support/fake-kms.js'
import {sshTarget} from '../support/services.js'
import {loopbackCluster} from './support.js'

const names = ['api-token', 'api.crt', 'api.key', 'master.key']
// The provisioner's and the machine's AWS credentials: the fake KMS checks no signature,
// and with these set the SDK never looks for an instance role.
const aws = {AWS_ACCESS_KEY_ID: 'AKIDBERTHTEST', AWS_SECRET_ACCESS_KEY: 'not-a-real-secret', AWS_REGION: 'us-east-1'}

describe('node secrets sealed with KMS', () => {
  let dir: string
  let kms: FakeKms
  let keyId: string
  let setup: Awaited<ReturnType<typeof loopbackCluster>>
  let env: Record<string, string>
  const root = () => `${dir}/nodes/main-1`
  const sealed = () => `${root()}/var/lib/berth/sealed`
  const secrets = () => `${root()}/etc/berth/secrets`

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'berth-kms-'))
    kms = await FakeKms.start()
    const client = new KMSClient({region: 'us-east-1', endpoint: kms.endpoint, credentials: {accessKeyId: aws.AWS_ACCESS_KEY_ID, secretAccessKey: aws.AWS_SECRET_ACCESS_KEY}})
    keyId = (await client.send(new CreateKeyCommand({}))).KeyMetadata!.KeyId!
    client.destroy()
    setup = await loopbackCluster(dir, ['main-1'])
    appendFileSync(setup.file, `nodeSecrets: {mode: kms, kms: {keyId: ${keyId}, endpoint: "${kms.endpoint}"}}\n`)
    env = {BERTH_STATE_DIR: setup.stateRoot, ...aws}
    mkdirSync(secrets(), {recursive: true, mode: 0o700})
    await execa('mount', ['-t', 'tmpfs', '-o', 'mode=0700,size=4m', 'tmpfs', secrets()])
  })
  after(async () => {
    await execa('umount', [secrets()], {reject: false})
    await kms.stop()
    rmSync(dir, {recursive: true, force: true})
  })

  const unseal = (to: string, from = sealed()) => berth(['node-secrets', 'unseal', '--sealed', from, '--to', to, '--json'], {env})

  test('upload-secrets seals every node secret with KMS and leaves blobs no clear byte of which is a secret', async () => {
    const result = await berth(['cluster', 'upload-secrets', '-c', setup.file, '-i', setup.identity,
      '--remote-root', `${dir}/nodes/{machine}`, '--ssh-address', `${sshTarget().host}:${sshTarget().port}`], {env})
    assert.equal(result.exitCode, 0, result.stderr)
    assert.deepEqual(readdirSync(sealed()).sort(), [...names.map((n) => `${n}.kms`), 'kms.json'].sort())
    for (const f of readdirSync(sealed())) assert.equal(statSync(`${sealed()}/${f}`).mode & 0o777, 0o600, f)
    assert.deepEqual(JSON.parse(readFileSync(`${sealed()}/kms.json`, 'utf8')), {keyId, endpoint: kms.endpoint, cluster: 'loop', machine: 'main-1'})
    const token = readFileSync(path.join(secretsDir(setup.stateDir), 'api-token'), 'utf8').trim()
    const masterKey = readFileSync(path.join(secretsDir(setup.stateDir), 'master.key'))
    for (const f of readdirSync(sealed())) {
      const bytes = readFileSync(`${sealed()}/${f}`)
      assert.ok(!bytes.includes(token) && !bytes.includes(masterKey) && !bytes.includes(masterKey.toString('base64')), `${f} holds no clear secret`)
    }
    assert.equal(kms.calls.filter((c) => c.operation === 'GenerateDataKey').length, names.length, 'KMS made a data key per secret')
  })

  test('node-secrets unseal opens them all into temp names, byte for byte, mode 0600', async () => {
    const to = mkdtempSync(path.join(dir, 'to-'))
    const result = await unseal(to)
    assert.equal(result.exitCode, 0, result.stderr)
    assert.deepEqual(JSON.parse(result.stdout), {unsealed: names})
    assert.deepEqual(readdirSync(to).sort(), names.map((n) => `.${n}.new`).sort())
    for (const name of names) {
      assert.ok(readFileSync(`${to}/.${name}.new`).equals(readFileSync(`${secrets()}/${name}`)), `${name} opened intact`)
      assert.equal(statSync(`${to}/.${name}.new`).mode & 0o777, 0o600, name)
    }
  })

  test('a blob moved to another machine does not open, and nothing is left half unsealed', async () => {
    const other = mkdtempSync(path.join(dir, 'other-'))
    for (const f of readdirSync(sealed())) writeFileSync(`${other}/${f}`, readFileSync(`${sealed()}/${f}`))
    const kmsFile = JSON.parse(readFileSync(`${other}/kms.json`, 'utf8')) as Record<string, string>
    writeFileSync(`${other}/kms.json`, JSON.stringify({...kmsFile, machine: 'worker-9'}))
    const to = mkdtempSync(path.join(dir, 'to-'))
    const result = await unseal(to, other)
    assert.equal(result.exitCode, 1, result.stdout)
    assert.match(result.stdout, /api-token\.kms: secret node:loop\/worker-9\/api-token: KMS refused its data key/)
    assert.deepEqual(readdirSync(to), [], 'all or none')
  })

  test('without kms.json the fix is named, with exit 2', async () => {
    const empty = mkdtempSync(path.join(dir, 'empty-'))
    const result = await berth(['node-secrets', 'unseal', '--sealed', empty, '--to', empty], {env})
    assert.equal(result.exitCode, 2, result.stderr)
    assert.match(result.stderr, /kms\.json: cannot read it \(ENOENT\) \(run `berth cluster upload-secrets` for this machine with nodeSecrets: \{mode: kms\}\)/)
  })

  test('cluster validate names the path and the fix for a kms mode without its key, and a key without kms mode', async () => {
    const text = readFileSync(setup.file, 'utf8').replace(/^nodeSecrets: .*$/m, '')
    const check = async (line: string) => {
      const file = path.join(dir, 'bad.yaml')
      writeFileSync(`${file}.new`, `${text.trimEnd()}\n${line}\n`)
      renameSync(`${file}.new`, file)
      return berth(['cluster', 'validate', '-c', file], {env})
    }
    const missing = await check('nodeSecrets: {mode: kms}')
    assert.equal(missing.exitCode, 2)
    assert.match(missing.stderr, /bad\.yaml: nodeSecrets\/kms: is required with mode: kms \(add kms: \{keyId: alias\/NAME\}, or choose mode: systemd-creds\)/)
    const unused = await check('nodeSecrets: {mode: memory, kms: {keyId: alias/x}}')
    assert.equal(unused.exitCode, 2)
    assert.match(unused.stderr, /nodeSecrets\/kms: is used only with mode: kms, and the mode is memory \(remove it, or set mode: kms\)/)
    const unknown = await check('nodeSecrets: {mode: tpm}')
    assert.equal(unknown.exitCode, 2)
    assert.match(unknown.stderr, /nodeSecrets\/mode: /)
    assert.equal((await check('nodeSecrets: {mode: memory}')).exitCode, 0)
  })
})
