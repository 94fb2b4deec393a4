/**
 * The main job on real nodes: a 3-node local cluster of its own (unique name, state in a
 * scratch folder, removed in after() by name and then by label whatever happened), then
 * `local-cluster provision`: every node installed, its agent converged, the example
 * answering on every node, `cluster status --json` saying so; the installer run again by
 * hand changes nothing; a host key swapped on one node makes upload-secrets refuse it alone.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {setTimeout} from 'node:timers/promises'

import {execa} from 'execa'

import {berth, type CliResult} from '../support/cli.js'
import {generateEd25519} from '../../src/ssh/keygen.js'

const name = `prov-${randomBytes(3).toString('hex')}`
let dir: string
let env: Record<string, string>
const sh = (machine: string, command: string): Promise<CliResult> => berth(['local-cluster', 'ssh', machine, '--name', name, '--', command], {env})

async function check(result: Promise<CliResult>): Promise<string> {
  const r = await result
  if (r.exitCode !== 0) throw new Error(`exit ${r.exitCode}: ${r.stderr || r.stdout}`)
  return r.stdout
}

describe('local-cluster provision on three real nodes', {timeout: 20 * 60_000}, () => {
  let provisioned: {urls: string[]; secondsFromBuiltImage: number; status: {machines: {name: string; installed?: {result: string; version: string}; agent: {state: string}; services: Record<string, string>}[]}}

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-prov-'))
    env = {BERTH_STATE_DIR: dir}
    await check(berth(['local-cluster', 'start', '3', '--name', name, '--json'], {env}))
  })
  after(async () => {
    await berth(['local-cluster', 'destroy', '--name', name], {env})
    // Whatever destroy could not find by its record goes by this run's unique label.
    const left = (await execa('docker', ['ps', '-aq', '--filter', `label=berth.cluster=${name}`])).stdout.split('\n').filter(Boolean)
    if (left.length > 0) await execa('docker', ['rm', '-fv', ...left], {reject: false})
    await rm(dir, {recursive: true, force: true})
  })

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

  it('after a restart a node has no secrets and its agent waits, until upload-secrets brings it back', async () => {
    await execa('docker', ['restart', '-t', '20', `berth-${name}-main-2`])
    const until = async (what: string, done: () => Promise<boolean>, seconds: number) => {
      for (const deadline = Date.now() + seconds * 1000; !(await done());) {
        if (Date.now() > deadline) throw new Error(`main-2: ${what} within ${seconds} s`)
        await setTimeout(500)
      }
    }
    await until('SSH answered', async () => (await sh('main-2', 'systemctl is-system-running --wait >/dev/null; true')).exitCode === 0, 120)
    assert.equal(await check(sh('main-2', 'findmnt -n -o FSTYPE /etc/berth/secrets')), 'tmpfs')
    assert.equal(await check(sh('main-2', 'ls -A /etc/berth/secrets | wc -l')), '0', 'the secrets went with the memory')
    assert.equal(await check(sh('main-2', 'systemctl show -p ConditionResult --value berth-agent')), 'no', 'the agent waits for the secrets')
    assert.equal((await sh('main-2', 'systemctl is-active berth-agent')).stdout, 'inactive')

    const upload = await berth(['cluster', 'upload-secrets', 'main-2', '--local-cluster', name], {env})
    assert.equal(upload.exitCode, 0, upload.stderr)
    await until('the agent and web ran again', async () => (await sh('main-2', 'systemctl is-active berth-agent berth-web')).stdout === 'active\nactive', 180)
    const response = await fetch(provisioned.urls[1]!, {signal: AbortSignal.timeout(5000)})
    assert.match(await response.text(), /Hello from main-2/)
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
