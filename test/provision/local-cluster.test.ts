/**
 * The main job on real nodes: a 3-node local cluster of its own (unique name, state in a
 * scratch folder, removed in after() by name and then by label whatever happened), then
 * `local-cluster provision`: every node installed, its agent converged, the example
 * answering on every node, `cluster status --json` saying so; the installer run again by
 * hand changes nothing; a host key swapped on one node makes upload-secrets refuse it alone.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdtemp, readFile, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {execa} from 'execa'

import {destroyLocalCluster} from '../support/local-cluster.js'
import {berth, type CliResult} from '../support/cli.js'
import {generateEd25519} from '../../src/ssh/keygen.js'
import {done as ready, notYet, pollUntil} from '../../src/poll.js'
import type {DayTwoCluster} from './day-two/context.js'
import {dayTwoParts} from './day-two/index.js'

const name = `prov-${randomBytes(3).toString('hex')}`
let dir: string
let env: Record<string, string>
const sh = (machine: string, command: string): Promise<CliResult> => berth(['local-cluster', 'ssh', machine, '--name', name, '--', command], {env})

async function check(result: Promise<CliResult>): Promise<string> {
  const r = await result
  if (r.exitCode !== 0) throw new Error(`exit ${r.exitCode}: ${r.stderr || r.stdout}`)
  return r.stdout
}

/** Polls `done` every 500 ms until it holds; fails naming the machine and what did not happen. */
async function until(machine: string, what: string, done: () => Promise<boolean>, seconds: number): Promise<void> {
  await pollUntil(async () => (await done() ? ready(undefined) : notYet(false)), {timeoutMs: seconds * 1000, intervalMs: 500, retryOn: () => false, onTimeout: () => new Error(`${machine}: ${what} not within ${seconds} s`)})
}

/** Restarts a node container and waits until its systemd has finished booting. */
async function restartNode(machine: string): Promise<void> {
  await execa('docker', ['restart', '-t', '20', `berth-${name}-${machine}`])
  await until(machine, 'booted and answered over SSH', async () => (await sh(machine, 'systemctl is-system-running --wait >/dev/null; true')).exitCode === 0, 120)
}

/** The lines of a PEM file long enough to be its own: its base64 lines. */
function secretLines(text: string): Buffer[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l.length >= 16 && !l.startsWith('-----')).map((l) => Buffer.from(l))
}

/** The longest run of a binary secret (the master key's raw bytes) that a grep pattern line can hold. */
function longestLine(bytes: Buffer): Buffer {
  const runs = [...bytes.toString('latin1').split(/[\n\0]/)].sort((a, b) => b.length - a.length)
  assert.ok(runs[0]!.length >= 8, 'the master key has a run of 8 bytes to search for')
  return Buffer.from(runs[0]!, 'latin1')
}

/** File systems that keep nothing on a disk: the pseudo ones and tmpfs. */
const NOT_ON_DISK = 'proc|sysfs|tmpfs|devtmpfs|devpts|mqueue|cgroup|cgroup2|securityfs|debugfs|tracefs|pstore|bpf|hugetlbfs|configfs|fusectl|autofs|binfmt_misc|ramfs|nsfs|efivarfs'

/**
 * Searches every regular file of every disk-backed file system a node sees, and its
 * journal, for any of `patterns` (TESTING.md: `find -xdev` per mount, since a plain
 * recursive grep of / blocks on tracefs). The patterns reach grep on stdin, never in argv.
 */
async function scanNode(container: string, patterns: Buffer[]): Promise<{files: string[]; journal: number}> {
  const script = [
    'set -eu',
    'export LC_ALL=C',
    'cat > /run/berth-scan.patterns',
    `mounts=$(findmnt -rn -o TARGET,FSTYPE | awk '$2 !~ /^(${NOT_ON_DISK})$/ {print $1}')`,
    // A scan that saw no file would find nothing: fail instead.
    'test -n "$mounts" && find $mounts -xdev -type f | grep -q .',
    'find $mounts -xdev -type f -print0 | xargs -0 grep -lF -f /run/berth-scan.patterns 2>/dev/null || true',
    'echo "journal: $(journalctl -o export --no-pager | grep -cF -f /run/berth-scan.patterns || true)"',
    'rm -f /run/berth-scan.patterns',
  ].join('\n')
  const {stdout} = await execa('docker', ['exec', '-i', container, 'sh', '-c', script], {input: Buffer.concat(patterns.flatMap((p) => [p, Buffer.from('\n')]))})
  const lines = stdout.split('\n').filter(Boolean)
  const journal = Number(lines.pop()?.replace('journal: ', ''))
  return {files: lines, journal}
}

describe('local-cluster provision on three real nodes', {timeout: 20 * 60_000}, () => {
  let provisioned: {urls: string[]; secondsFromBuiltImage: number; status: {machines: {name: string; installed?: {result: string; version: string}; agent: {state: string}; services: Record<string, string>}[]}}

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-prov-'))
    env = {BERTH_STATE_DIR: dir}
    await check(berth(['local-cluster', 'start', '3', '--name', name, '--json'], {env}))
  })
  after(() => destroyLocalCluster(name, env, dir))

  it('installs every node and the example answers on each, in the time the README quotes', async () => {
    const result = await berth(['local-cluster', 'provision', '--name', name, '--json', '--timeout', '400'], {env})
    assert.equal(result.exitCode, 0, result.stderr || result.stdout)
    provisioned = JSON.parse(result.stdout)
    console.log(`# main job: ${provisioned.secondsFromBuiltImage} s from the built images to the example answering`)
    assert.equal(provisioned.urls.length, 3)
    for (const m of provisioned.status.machines) {
      assert.equal(m.installed?.result, 'ok', m.name)
      assert.equal(m.agent.state, 'converged', m.name)
      assert.equal(m.services.web, 'active', m.name)
    }
    for (const [i, url] of provisioned.urls.entries()) {
      const body = await (await fetch(url)).text()
      assert.match(body, new RegExp(`Hello from main-${i + 1}`))
    }
  })

  it('cluster status --json shows every machine installed, converged, with web active', async () => {
    const result = await berth(['cluster', 'status', '--local-cluster', name, '--json'], {env})
    assert.equal(result.exitCode, 0, result.stderr)
    const status = JSON.parse(result.stdout) as {etcd: {healthy: number}; machines: {name: string; role: string; etcd: string; installed?: {result: string}; agent: {state: string; lastPassAgeS?: number}; services: Record<string, string>}[]}
    assert.equal(status.etcd.healthy, 3)
    assert.deepEqual(status.machines.map((m) => [m.name, m.role, m.etcd, m.installed?.result, m.agent.state, m.services.web]), [1, 2, 3].map((i) => [`main-${i}`, 'main', 'voter, healthy', 'ok', 'converged', 'active']))
  })

  // Day-two checks share this cluster while it is whole, before the reboots below.
  const dayTwo = (): DayTwoCluster => ({name, env, dir, sh, container: (m) => `berth-${name}-${m}`, berth: (args, options) => berth(args, {env, input: options?.input})})
  for (const part of dayTwoParts) {
    for (const c of part.checks) it(`${part.name}: ${c.title}`, () => c.run(dayTwo()))
  }

  it('keeps node secrets in memory: a tmpfs holds them, and the disk beneath it has none', async () => {
    assert.equal(await check(sh('main-1', 'findmnt -n -o FSTYPE /etc/berth/secrets')), 'tmpfs')
    assert.match(await check(sh('main-1', 'findmnt -n -o OPTIONS /etc/berth/secrets')), /nosuid,nodev,noexec.*mode=700/)
    assert.deepEqual((await check(sh('main-1', 'ls /etc/berth/secrets'))).split('\n').sort(), ['api-token', 'api.crt', 'api.key', 'master.key', 'uploaded'])
    // docker cp reads the container's own file system, under any mount made inside it.
    const beneath = await execa('docker', ['cp', `berth-${name}-main-1:/etc/berth/secrets`, '-'], {encoding: 'buffer'})
    const entries = (await execa('tar', ['-t'], {input: beneath.stdout})).stdout.split('\n').filter(Boolean)
    assert.deepEqual(entries, ['secrets/'])
  })

  it('the installer run again by hand changes nothing: same unit file, same agent and web containers', async () => {
    const snapshot = 'stat -c %Y /etc/systemd/system/berth-agent.service /etc/berth/agent.json; docker ps --format "{{.ID}} {{.Names}}" | sort'
    const before = await check(sh('main-2', snapshot))
    const image = JSON.parse(await check(sh('main-2', 'cat /etc/berth/cluster.json'))).installerImage as string
    const run = `docker run --rm --network host --pid host -v /var/run/docker.sock:/var/run/docker.sock -v /etc/systemd/system:/etc/systemd/system -v /run/systemd:/run/systemd -v /etc/berth:/etc/berth -v /run/berth:/run/berth ${image} install`
    const out = await check(sh('main-2', run))
    assert.match(out, /installed .*\(nothing changed\)/)
    assert.match(out, /Write the agent's options and unit, and start it: unchanged/)
    assert.equal(await check(sh('main-2', snapshot)), before)
  })

  it('keeps a sealed copy for the next boots: every node secret sealed by systemd-creds to the host key', async () => {
    for (const m of ['main-1', 'main-2', 'main-3']) {
      assert.deepEqual((await check(sh(m, 'ls /var/lib/berth/sealed'))).split('\n').sort(), ['api-token.cred', 'api.crt.cred', 'api.key.cred', 'key', 'master.key.cred', 'uploaded'], m)
      // No TPM2 in a node (TESTING.md): the host key it is.
      assert.equal(await check(sh(m, 'cat /var/lib/berth/sealed/key')), 'host', m)
    }
  })

  it('a service secret and the node secrets rest on no disk-backed file of any node, nor in the journal', async () => {
    const canary = `canary-${randomBytes(12).toString('hex')}`
    const options = path.join(dir, 'secrets-options.json')
    const state = path.join(dir, 'local-clusters', name, 'state')
    const [ip] = provisioned.urls.map((u) => new URL(u).hostname)
    await writeFile(options, JSON.stringify({store: {kind: 'etcd', endpoints: [`http://${ip}:2379`]}, secrets: {kind: 'local', masterKeyFile: path.join(state, 'secrets', 'master.key')}}))
    const set = await berth(['secrets', 'set', 'BERTH_CANARY', '--options', options], {input: canary, env})
    assert.equal(set.exitCode, 0, set.stderr)
    // web's spec, without its host port and with the secret: a second global service.
    const web = JSON.parse(await check(sh('main-1', 'ETCDCTL_API=3 etcdctl get --print-value-only /berth/services/web'))) as Record<string, unknown>
    const spec = {...web, ports: [], secrets: ['BERTH_CANARY']}
    await check(sh('main-1', `ETCDCTL_API=3 etcdctl put /berth/services/canary '${JSON.stringify(spec)}'`))
    for (const m of ['main-1', 'main-2', 'main-3']) {
      await until(m, 'canary runs with its secret', async () => (await sh(m, 'docker exec berth-canary env')).stdout.includes(`BERTH_CANARY=${canary}`), 120)
    }
    // Every node secret too: the token, the master key, each machine's TLS key.
    const nodeSecrets: Buffer[] = [canary, (await readFile(path.join(state, 'secrets', 'api-token'), 'utf8')).trim()].map((v) => Buffer.from(v))
    nodeSecrets.push(longestLine(await readFile(path.join(state, 'secrets', 'master.key'))))
    // The scan's own check: a copy planted on main-1's disk is the one thing it finds there.
    const control = '/var/tmp/berth-scan-control'
    await execa('docker', ['exec', '-i', `berth-${name}-main-1`, 'sh', '-c', `cat > ${control}`], {input: canary})
    for (const m of ['main-1', 'main-2', 'main-3']) {
      const patterns = [...nodeSecrets, ...secretLines(await readFile(path.join(state, 'secrets', 'machines', m, 'api.key'), 'utf8'))]
      const found = await scanNode(`berth-${name}-${m}`, patterns)
      assert.deepEqual(found, {files: m === 'main-1' ? [control] : [], journal: 0}, `${m}: a secret rests in the clear`)
    }
    await execa('docker', ['exec', `berth-${name}-main-1`, 'rm', control])
  })

  it('comes back by itself from a power cut: every node killed at once, web and canary answering again with no command run', async () => {
    const nodes = [1, 2, 3].map((i) => `berth-${name}-main-${i}`)
    const cut = Date.now()
    await execa('docker', ['kill', ...nodes])
    await execa('docker', ['start', ...nodes])
    await Promise.all(provisioned.urls.map((url, i) => until(`main-${i + 1}`, 'web answered', async () => {
      const response = await fetch(url, {signal: AbortSignal.timeout(2000)}).catch(() => undefined)
      return response?.ok === true && (await response.text()).includes(`Hello from main-${i + 1}`)
    }, 180)))
    console.log(`# power cut: every node's web answering ${((Date.now() - cut) / 1000).toFixed(1)} s after the cut`)
    for (const m of ['main-1', 'main-2', 'main-3']) {
      await until(m, 'canary ran again', async () => (await sh(m, 'systemctl is-active berth-canary')).stdout === 'active', 60)
      assert.equal(await check(sh(m, 'systemctl is-active berth-unseal berth-agent')), 'active\nactive', m)
      assert.deepEqual((await check(sh(m, 'ls /etc/berth/secrets'))).split('\n').sort(), ['api-token', 'api.crt', 'api.key', 'master.key', 'unsealed'], `${m}: unsealed, not uploaded`)
      assert.equal(await check(sh(m, 'systemctl show -p NRestarts --value berth-agent')), '0', m)
    }
    // An upgrade of a machine whose secrets came back from their sealed copy runs the installer too.
    const installedBefore = await check(sh('main-2', `ETCDCTL_API=3 etcdctl get --print-value-only /berth/machines/main-2/installed`))
    const upgrade = await berth(['local-cluster', 'upgrade-machine', 'main-2', '--name', name], {env})
    assert.equal(upgrade.exitCode, 0, `${upgrade.stdout}\n${upgrade.stderr}`)
    const installedAfter = JSON.parse(await check(sh('main-2', `ETCDCTL_API=3 etcdctl get --print-value-only /berth/machines/main-2/installed`))) as {result: string; at: string}
    assert.equal(installedAfter.result, 'ok')
    assert.ok(installedAfter.at > (JSON.parse(installedBefore) as {at: string}).at, 'the installer ran again on the unsealed machine')
    // Sealed again on an unsealed machine: the markers are copied, never sealed as secrets.
    const upload = await berth(['cluster', 'upload-secrets', 'main-1', '--local-cluster', name], {env})
    assert.equal(upload.exitCode, 0, upload.stderr)
    assert.deepEqual((await check(sh('main-1', 'ls /var/lib/berth/sealed'))).split('\n').sort(), ['api-token.cred', 'api.crt.cred', 'api.key.cred', 'key', 'master.key.cred', 'uploaded'])
  })

  it('a sealed copy that no longer opens keeps the agent down with one clear line, no restart loop, until upload-secrets seals again', async () => {
    // A new host key, as a reinstalled or cloned machine would have.
    await check(sh('main-3', 'head -c 4096 /dev/urandom > /var/lib/systemd/credential.secret.new && chmod 0400 /var/lib/systemd/credential.secret.new && mv /var/lib/systemd/credential.secret.new /var/lib/systemd/credential.secret'))
    await restartNode('main-3')
    assert.equal((await sh('main-3', 'systemctl is-failed berth-unseal')).stdout, 'failed')
    const lines = (await check(sh('main-3', 'journalctl -b -u berth-unseal -o cat | grep "^berth:"'))).split('\n')
    assert.equal(lines.length, 1, lines.join('\n'))
    assert.match(lines[0]!, /^berth: cannot unseal \/var\/lib\/berth\/sealed\/\S+\.cred \(.+\); run `berth cluster upload-secrets main-3` on the provisioner to seal them again$/)
    assert.equal(await check(sh('main-3', 'systemctl show -p ConditionResult --value berth-agent')), 'no', 'the agent waits for the secrets')
    assert.equal((await sh('main-3', 'systemctl is-active berth-agent')).stdout, 'inactive')
    assert.equal(await check(sh('main-3', 'systemctl show -p NRestarts --value berth-unseal')), '0')
    assert.equal(await check(sh('main-3', 'systemctl show -p NRestarts --value berth-agent')), '0')

    const upload = await berth(['cluster', 'upload-secrets', 'main-3', '--local-cluster', name], {env})
    assert.equal(upload.exitCode, 0, upload.stderr)
    await until('main-3', 'the agent and web ran again', async () => (await sh('main-3', 'systemctl is-active berth-agent berth-web')).stdout === 'active\nactive', 180)
  })

  it('with nodeSecrets: memory nothing sealed stays, and a restarted node waits for upload-secrets', async () => {
    const file = path.join(dir, 'local-clusters', name, 'cluster.yaml')
    const original = await readFile(file, 'utf8')
    await writeFile(file, `${original.trimEnd()}\nnodeSecrets: {mode: memory}\n`)
    try {
      const upload = await berth(['cluster', 'upload-secrets', 'main-2', '--local-cluster', name], {env})
      assert.equal(upload.exitCode, 0, upload.stderr)
      assert.equal(await check(sh('main-2', 'ls -A /var/lib/berth/sealed | wc -l')), '0', 'the sealed copy is gone')
      await restartNode('main-2')
      assert.equal(await check(sh('main-2', 'ls -A /etc/berth/secrets | wc -l')), '0', 'the secrets went with the memory')
      assert.equal(await check(sh('main-2', 'systemctl show -p ConditionResult --value berth-unseal')), 'no', 'nothing to unseal')
      assert.equal(await check(sh('main-2', 'systemctl show -p ConditionResult --value berth-agent')), 'no', 'the agent waits')
      assert.equal((await sh('main-2', 'systemctl is-active berth-agent')).stdout, 'inactive')
    } finally {
      await writeFile(file, original)
    }
    const upload = await berth(['cluster', 'upload-secrets', 'main-2', '--local-cluster', name], {env})
    assert.equal(upload.exitCode, 0, upload.stderr)
    await until('main-2', 'the agent and web ran again', async () => (await sh('main-2', 'systemctl is-active berth-agent berth-web')).stdout === 'active\nactive', 180)
    assert.equal(await check(sh('main-2', 'cat /var/lib/berth/sealed/key')), 'host', 'sealed again with the default mode')
  })

  it('refuses the one node whose host key was swapped, and uploads to the others', async () => {
    const keys = path.join(dir, 'local-clusters', name, 'state', 'hostkeys.json')
    const stored = JSON.parse(await readFile(keys, 'utf8')) as Record<string, {private: string; public: string}>
    stored['main-3']!.public = generateEd25519().public
    await writeFile(keys, JSON.stringify(stored), {mode: 0o600})
    // Read through docker exec: the test must not depend on the key it just broke.
    const markerTime = async () => (await execa('docker', ['exec', `berth-${name}-main-3`, 'stat', '-c', '%Y.%Z', '/etc/berth/secrets/uploaded'])).stdout
    const marker = await markerTime()
    const result = await berth(['cluster', 'upload-secrets', '--local-cluster', name], {env})
    assert.equal(result.exitCode, 1)
    assert.match(result.stderr, /main-3 \(\S+\): connect failed: .*host key mismatch/)
    assert.match(result.stdout, /2 of 3 machines have their secrets/)
    assert.equal(await markerTime(), marker, 'nothing was written to main-3')
  })
})
