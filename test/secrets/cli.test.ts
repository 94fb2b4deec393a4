import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {readdir, readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {CreateKeyCommand, KMSClient} from '@aws-sdk/client-kms'
import {execa} from 'execa'

import {EtcdStore} from '../../src/agent/store/store-etcd.js'
import {FileStore} from '../../src/agent/store/store-file.js'
import {packageRoot} from '../../src/paths.js'
import {openSecret} from '../../src/secrets/envelope.js'
import {KmsKeyProvider} from '../../src/secrets/kms.js'
import {createMasterKey, LocalKeyProvider} from '../../src/secrets/local-key.js'
import {testService} from '../agent/store-support.js'
import {berth, scratch, type CliResult} from '../support/cli.js'
import {FakeKms} from '../support/fake-kms.js'

// Canaries: each must never show up in argv, output, errors or a store in clear.
const value = `canary-${randomBytes(12).toString('hex')}`
const imported = {API_KEY: `canary-${randomBytes(12).toString('hex')}`, SMTP_PASSWORD: `canary-${randomBytes(12).toString('hex')}`}
const canaries = [value, ...Object.values(imported)]
const forms = (s: string): string[] => [s, Buffer.from(s).toString('base64'), Buffer.from(s).toString('hex')]

function assertNoCanary(text: string, where: string): void {
  for (const canary of canaries) for (const form of forms(canary)) assert.ok(!text.includes(form), `${where} holds a secret value`)
}

function assertClean(result: CliResult, exitCode = 0): CliResult {
  assertNoCanary(result.stdout + result.stderr, 'the output')
  assert.equal(result.exitCode, exitCode, result.stderr)
  return result
}

/** Every process's command line on this machine, read from /proc. */
async function allCommandLines(): Promise<string> {
  const lines: string[] = []
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    lines.push(await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''))
  }
  return lines.join('\n')
}

describe('berth secrets against a YAML file store and the local master key', async () => {
  const dir = await scratch('berth-secrets-')
  const storeFile = path.join(dir, 'desired.yaml')
  const masterKeyFile = path.join(dir, 'master.key')
  const options = path.join(dir, 'agent.json')
  before(async () => {
    await createMasterKey(masterKeyFile)
    await writeFile(options, JSON.stringify({store: {kind: 'file', path: 'desired.yaml'}, secrets: {kind: 'local', masterKeyFile: 'master.key'}}))
  })
  const opened = async (name: string): Promise<string> => {
    const blob = await new FileStore(storeFile).sealedSecret(name)
    assert.ok(blob, `secret ${name} is not stored`)
    return (await openSecret(name, blob, await LocalKeyProvider.fromFile(masterKeyFile))).toString()
  }

  it('sets a secret from stdin, which no process ever has in its argv', async () => {
    // The check's own check: a process with the value in its argv is seen.
    const decoy = execa(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)', value], {reject: false})
    await new Promise((resolve) => decoy.once('spawn', resolve))
    assert.ok((await allCommandLines()).includes(value), 'a command line with the value is found')
    decoy.kill()
    await decoy

    // Every process's command line, sampled from the start of the command to its end: the
    // value goes in on stdin at once, so the samples span its reading, sealing and storing.
    const child = execa(process.execPath, [path.join(packageRoot, 'bin', 'run.js'), 'secrets', 'set', 'DB_PASSWORD', '--options', options], {reject: false})
    const samples: string[] = []
    let running = true
    const sampler = (async () => {
      while (running) samples.push(await allCommandLines())
    })()
    child.stdin?.end(`${value}\n`)
    const result = await child
    running = false
    await sampler
    assert.ok(samples.some((s) => s.includes('secrets\0set\0DB_PASSWORD')), 'the samples saw the command running')
    for (const sample of samples) assertNoCanary(sample, 'a command line')
    assertClean({exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr)})
    assert.equal(String(result.stdout), 'Stored secret DB_PASSWORD, sealed with the local key.')
    assert.equal(await opened('DB_PASSWORD'), value)
    assertNoCanary(await readFile(storeFile, 'utf8'), 'the store file')
  })

  it('sets a secret from a file, and lists names only', async () => {
    const file = path.join(dir, 'value.txt')
    await writeFile(file, value)
    assertClean(await berth(['secrets', 'set', 'OTHER', '--from-file', file, '--options', options]))
    assert.equal(await opened('OTHER'), value)
    assert.equal(assertClean(await berth(['secrets', 'list', '--options', options])).stdout, 'DB_PASSWORD\nOTHER')
    assert.deepEqual(JSON.parse(assertClean(await berth(['secrets', 'list', '--json', '--options', options])).stdout), {secrets: ['DB_PASSWORD', 'OTHER']})
  })

  it('imports a JSON file of secrets', async () => {
    const file = path.join(dir, 'secrets.json')
    await writeFile(file, JSON.stringify(imported))
    assert.equal(assertClean(await berth(['secrets', 'import', file, '--options', options])).stdout, 'Stored 2 secret(s): API_KEY, SMTP_PASSWORD.')
    for (const [name, clear] of Object.entries(imported)) assert.equal(await opened(name), clear)
    assertNoCanary(await readFile(storeFile, 'utf8'), 'the store file')
  })

  it('refuses bad input with exit code 2, storing nothing and echoing no value', async () => {
    const before = await readFile(storeFile, 'utf8')
    const bad = path.join(dir, 'bad.json')
    await writeFile(bad, JSON.stringify({GOOD: imported.API_KEY, 'bad-name': imported.API_KEY, NUMBER: 5, MULTI: `${value}\nline`}))
    const result = assertClean(await berth(['secrets', 'import', bad, '--options', options]), 2)
    assert.deepEqual(result.stderr.trim().split('\n').map((l) => l.replace(/ \(.*\)$/, '')), [
      `berth: ${bad}: bad-name: "bad-name" is not a valid secret name`,
      `berth: ${bad}: NUMBER: must be a string, not a number`,
      `berth: ${bad}: MULTI: the value of secret MULTI contains a line break, which docker env files cannot carry`,
    ])
    await writeFile(bad, `{"A": "${value}",`)
    assert.match(assertClean(await berth(['secrets', 'import', bad, '--options', options]), 2).stderr, /is not valid JSON/)
    assertClean(await berth(['secrets', 'set', 'lower-case', '--options', options], {input: value}), 2)
    assertClean(await berth(['secrets', 'set', 'EMPTY', '--options', options], {input: ''}), 2)
    assertClean(await berth(['secrets', 'set', 'TWO_LINES', '--options', options], {input: `${value}\nmore\n`}), 2)
    assert.equal(await readFile(storeFile, 'utf8'), before)
  })

  it('removes a secret, and says so when there is none', async () => {
    assertClean(await berth(['secrets', 'rm', 'OTHER', '--options', options]))
    assert.match(assertClean(await berth(['secrets', 'rm', 'OTHER', '--options', options]), 1).stderr, /^berth: there is no secret OTHER/)
    assert.deepEqual(await new FileStore(storeFile).secretNames(), ['API_KEY', 'DB_PASSWORD', 'SMTP_PASSWORD'])
  })

  it('refuses an options file with the token inline, or unknown keys, naming the file', async () => {
    const bad = path.join(dir, 'inline.json')
    await writeFile(bad, JSON.stringify({token: 'abc', stores: {}, store: {kind: 'file', path: 'x', extra: 1}}))
    const result = assertClean(await berth(['secrets', 'list', '--options', bad]), 2)
    assert.deepEqual(result.stderr.trim().split('\n').map((l) => l.replace(/ \(.*\)$/, '')), [
      `berth: ${bad}: token: the admin token must not be in the options file`,
      `berth: ${bad}: stores: unknown key`,
      `berth: ${bad}: store/extra: unknown key`,
    ])
  })
})

describe('berth secrets against etcd and KMS (the fake speaking the real protocol)', async () => {
  const endpoints = [testService('BERTH_TEST_ETCD')]
  const prefix = `/berth-test-${randomBytes(4).toString('hex')}`
  const credentials = {accessKeyId: 'AKIDBERTHTEST', secretAccessKey: 'not-a-real-secret'}
  // Static credentials and a region: the SDK must not look for others (no metadata address).
  const env = {AWS_ACCESS_KEY_ID: credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey, AWS_EC2_METADATA_DISABLED: 'true'}
  const kms = await FakeKms.start()
  const dir = await scratch('berth-secrets-kms-')
  const options = path.join(dir, 'agent.json')
  let keyId: string
  before(async () => {
    const client = new KMSClient({region: 'us-east-1', endpoint: kms.endpoint, credentials})
    keyId = (await client.send(new CreateKeyCommand({}))).KeyMetadata?.KeyId as string
    client.destroy()
    await writeFile(options, JSON.stringify({store: {kind: 'etcd', endpoints, prefix}, secrets: {kind: 'kms', keyId, region: 'us-east-1', endpoint: kms.endpoint}}))
  })
  after(async () => {
    await kms.stop()
    const {Etcd3} = await import('etcd3')
    const raw = new Etcd3({hosts: endpoints})
    await raw.delete().prefix(`${prefix}/`).exec()
    raw.close()
  })

  it('seals with a KMS data key, stores only ciphertext in etcd, and lists names', async () => {
    kms.calls.length = 0
    assert.equal(assertClean(await berth(['secrets', 'set', 'DB_PASSWORD', '--options', options], {input: value, env})).stdout, 'Stored secret DB_PASSWORD, sealed with the kms key.')
    const file = path.join(dir, 'secrets.json')
    await writeFile(file, JSON.stringify(imported))
    assertClean(await berth(['secrets', 'import', file, '--options', options], {env}))
    assert.deepEqual(kms.calls.map((c) => c.operation), ['GenerateDataKey', 'GenerateDataKey', 'GenerateDataKey'])
    assertNoCanary(JSON.stringify(kms.calls), 'a KMS request')

    const {Etcd3} = await import('etcd3')
    const raw = new Etcd3({hosts: endpoints})
    const stored = await raw.getAll().prefix(`${prefix}/`).buffers()
    raw.close()
    // Beside the secrets, one audit entry per secret set, naming it only (the canary check covers them too).
    const keys = Object.keys(stored).sort()
    assert.deepEqual(keys.filter((k) => !k.startsWith(`${prefix}/audit/`)), ['API_KEY', 'DB_PASSWORD', 'SMTP_PASSWORD'].map((n) => `${prefix}/secrets/${n}`))
    assert.equal(keys.length, 6)
    assertNoCanary(Object.values(stored).map((b) => b.toString('latin1')).join('\n'), 'etcd')

    const store = new EtcdStore({endpoints, prefix})
    const provider = new KmsKeyProvider({keyId, endpoint: kms.endpoint, credentials})
    assert.equal((await openSecret('DB_PASSWORD', (await store.sealedSecret('DB_PASSWORD')) as Buffer, provider)).toString(), value)
    await store.close()
    assert.equal(assertClean(await berth(['secrets', 'list', '--options', options], {env})).stdout, 'API_KEY\nDB_PASSWORD\nSMTP_PASSWORD')
  })

  it('reports a KMS failure in one line, storing nothing', async () => {
    kms.failures.push({status: 400, type: 'AccessDeniedException'})
    const result = assertClean(await berth(['secrets', 'set', 'NEW_ONE', '--options', options], {input: value, env}), 1)
    assert.match(result.stderr, new RegExp(`^berth: KMS key ${keyId}: AccessDeniedException: .*; check the key id, its state and this node's KMS access$`))
    assert.ok(!assertClean(await berth(['secrets', 'list', '--options', options], {env})).stdout.includes('NEW_ONE'))
  })
})
