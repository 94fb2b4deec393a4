/**
 * upload-secrets against the real test sshd (scripts/services.sh) on loopback: each
 * machine's files land in a scratch folder of its own (the hidden --remote-root), so the
 * test reads what arrived straight from disk.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdirSync, mkdtempSync, rmSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {tmpdir} from 'node:os'
import {after, before, describe, test} from 'node:test'
import {execa} from 'execa'

import {loadClusterFile} from '../../src/config/load.js'
import {ensureNodeSecrets, secretsDir} from '../../src/provision/node-secrets.js'
import {prepareUpload, uploadToMachine} from '../../src/provision/upload.js'
import {berth} from '../support/cli.js'
import {sshTarget} from '../support/services.js'
import {cuttingRelay, loopbackCluster} from './support.js'

const mode = (file: string) => statSync(file).mode & 0o777
const names = ['master.key', 'api-token', 'api.crt', 'api.key']

describe('cluster upload-secrets over SSH', () => {
  let dir: string
  let env: Record<string, string>
  let setup: Awaited<ReturnType<typeof loopbackCluster>>
  let secretValues: string[]

  /** Where a machine's secrets go, made a tmpfs as a node's first boot makes it: uploads write nowhere else. */
  const mounted: string[] = []
  const secretsInMemory = async (root: string) => {
    const secrets = `${root}/etc/berth/secrets`
    mkdirSync(secrets, {recursive: true, mode: 0o700})
    await execa('mount', ['-t', 'tmpfs', '-o', 'mode=0700,size=32m', 'tmpfs', secrets])
    mounted.push(secrets)
  }

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'berth-upload-'))
    setup = await loopbackCluster(dir, ['main-1', 'worker-1', 'worker-2'], ['worker-2'])
    env = {BERTH_STATE_DIR: setup.stateRoot}
    for (const m of ['main-1', 'worker-1']) await secretsInMemory(`${dir}/nodes/${m}`)
  })
  after(async () => {
    for (const secrets of mounted) await execa('umount', [secrets], {reject: false})
    rmSync(dir, {recursive: true, force: true})
  })

  const run = (...extra: string[]) => berth(['cluster', 'upload-secrets', '-c', setup.file, '-i', setup.identity,
    '--remote-root', `${dir}/nodes/{machine}`, '--ssh-address', `${sshTarget().host}:${sshTarget().port}`, ...extra], {env})

  test('the CLI uploads to the good machines, names the refused one with its step, and exits 1', async () => {
    const result = await run('--json')
    assert.equal(result.exitCode, 1, result.stderr)
    const out = JSON.parse(result.stdout) as {ok: boolean; machines: {machine: string; ok: boolean; step?: string; error?: string}[]}
    assert.equal(out.ok, false)
    assert.deepEqual(out.machines.map((m) => [m.machine, m.ok]), [['main-1', true], ['worker-1', true], ['worker-2', false]])
    const refused = out.machines[2]!
    assert.equal(refused.step, 'connect')
    assert.match(refused.error ?? '', /host key mismatch/)
    assert.equal(readdirSafe(`${dir}/nodes/worker-2`).length, 0, 'nothing was written for the refused machine')

    for (const m of ['main-1', 'worker-1']) {
      const etc = `${dir}/nodes/${m}/etc/berth`
      assert.equal(mode(`${etc}/secrets`), 0o700)
      assert.deepEqual(readdirSync(`${etc}/secrets`).sort(), [...names, 'uploaded'].sort(), 'no temp file is left')
      for (const name of [...names, 'uploaded']) assert.equal(mode(`${etc}/secrets/${name}`), 0o600, `${m} ${name}`)
      assert.equal(mode(`${etc}/cluster.json`), 0o644)
      for (const name of ['master.key', 'api-token']) {
        assert.ok(readFileSync(`${etc}/secrets/${name}`).equals(readFileSync(path.join(secretsDir(setup.stateDir), name))), `${m} ${name} arrived intact`)
      }
      const clusterJson = JSON.parse(readFileSync(`${etc}/cluster.json`, 'utf8')) as {services: object; installerImage: string; unitPrefix: string}
      assert.deepEqual(clusterJson.services, {web: {image: 'examples/web:1', ports: ['8080:80']}})
      assert.equal(clusterJson.installerImage, '192.0.2.2:5000/berth/installer:latest')
      assert.equal(clusterJson.unitPrefix, 'berth-')
      // The marker is written last: no other file changed after it.
      const marker = statSync(`${etc}/secrets/uploaded`, {bigint: true}).ctimeNs
      for (const name of [...names.map((n) => `secrets/${n}`), 'cluster.json']) assert.ok(statSync(`${etc}/${name}`, {bigint: true}).ctimeNs <= marker, `${name} before the marker`)
    }
    // Each machine has its own certificate, for its own name and address.
    const san = (m: string) => readFileSync(`${dir}/nodes/${m}/etc/berth/secrets/api.crt`, 'utf8')
    assert.notEqual(san('main-1'), san('worker-1'))
    secretValues = [readFileSync(path.join(secretsDir(setup.stateDir), 'api-token'), 'utf8').trim(), readFileSync(path.join(secretsDir(setup.stateDir), 'master.key')).toString('base64')]
    for (const value of secretValues) assert.ok(!result.stdout.includes(value) && !result.stderr.includes(value), 'no secret in the output')
  })

  test('the node secrets are made once, 0600 in a 0700 folder, and kept', async () => {
    const {cluster} = await loadClusterFile(setup.file)
    const before = readFileSync(path.join(secretsDir(setup.stateDir), 'master.key'))
    const files = await ensureNodeSecrets(cluster, cluster.machines, setup.stateDir)
    assert.ok(readFileSync(path.join(secretsDir(setup.stateDir), 'master.key')).equals(before))
    assert.equal(mode(secretsDir(setup.stateDir)), 0o700)
    for (const f of files.get('main-1')!) assert.equal(mode(f.local), 0o600, f.name)
    assert.equal(readFileSync(path.join(secretsDir(setup.stateDir), 'master.key')).length, 32)
    assert.match(readFileSync(path.join(secretsDir(setup.stateDir), 'api-token'), 'utf8'), /^[A-Za-z0-9_-]{43}\n$/)
  })

  test('an unreadable identity is bad usage (exit 2) before any machine is touched', async () => {
    const root = `${dir}/no-identity/{machine}`
    const result = await berth(['cluster', 'upload-secrets', '-c', setup.file, '-i', path.join(dir, 'missing_ed25519'),
      '--remote-root', root, '--ssh-address', `${sshTarget().host}:${sshTarget().port}`], {env})
    assert.equal(result.exitCode, 2, result.stderr)
    assert.match(result.stderr, /--identity: cannot read .*missing_ed25519 \(ENOENT\)/)
    assert.equal(readdirSafe(`${dir}/no-identity`).length, 0, 'nothing was written')
  })

  test('a machine whose secrets folder is on disk, not a tmpfs, gets nothing, and the step says why', async () => {
    const result = await berth(['cluster', 'upload-secrets', 'main-1', '-c', setup.file, '-i', setup.identity,
      '--remote-root', `${dir}/on-disk/{machine}`, '--ssh-address', `${sshTarget().host}:${sshTarget().port}`], {env})
    assert.equal(result.exitCode, 1, result.stderr)
    const secrets = `${dir}/on-disk/main-1/etc/berth/secrets`
    assert.ok(result.stderr.includes(`main-1 (192.0.2.11): check that ${secrets} is in memory failed: `), result.stderr)
    assert.match(result.stderr, /is not a mount, not tmpfs; berth writes node secrets only to memory/)
    assert.deepEqual(readdirSafe(`${dir}/on-disk`), [], 'nothing was written')
  })

  test('naming an unknown machine is bad usage (exit 2)', async () => {
    const result = await run('nosuch')
    assert.equal(result.exitCode, 2)
    assert.match(result.stderr, /nosuch: is not a machine of this cluster/)
  })

  test('a connection cut mid-upload leaves the previous secrets and marker as they were, and says so without the secret', async () => {
    const {cluster} = await loadClusterFile(setup.file)
    const machine = cluster.machines[0]!
    const root = `${dir}/cut`
    await secretsInMemory(root)
    for (const name of [...names, 'uploaded']) writeFileSync(`${root}/etc/berth/secrets/${name}`, `previous ${name}\n`, {mode: 0o600})
    const big = path.join(dir, 'big.key')
    const canary = `CANARY-${randomBytes(8).toString('hex')}`
    writeFileSync(big, Buffer.concat([Buffer.from(canary), randomBytes(8 * 1024 * 1024)]), {mode: 0o600})
    const relay = await cuttingRelay(2 * 1024 * 1024)
    try {
      const files = [{name: 'api-token' as const, local: path.join(secretsDir(setup.stateDir), 'api-token')}, {name: 'master.key' as const, local: big}]
      const options = {identity: setup.identity, stateDir: setup.stateDir, parallel: 1, remoteRoot: root, address: () => ({host: '127.0.0.1', port: relay.port}), timeoutMs: 5000}
      const prepared = await prepareUpload(cluster, [machine], options)
      prepared.secrets.set(machine.name, files)
      const outcome = await uploadToMachine(prepared, machine, options)
      assert.ok(relay.cut(), 'the relay cut the connection')
      assert.equal(outcome.ok, false)
      assert.equal(outcome.step, 'upload master.key')
      assert.match(outcome.error ?? '', /connection lost|previous file is unchanged/)
      assert.ok(!(outcome.error ?? '').includes(canary))
      assert.equal(readFileSync(`${root}/etc/berth/secrets/master.key`, 'utf8'), 'previous master.key\n')
      assert.equal(readFileSync(`${root}/etc/berth/secrets/uploaded`, 'utf8'), 'previous uploaded\n', 'the marker was not touched: the installer does not start')
      assert.equal(readFileSync(`${root}/etc/berth/secrets/api.key`, 'utf8'), 'previous api.key\n')
    } finally {
      await relay.close()
    }
  })
})

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}
