/**
 * etcd disaster recovery on three real nodes (a local cluster of its own, provisioned like
 * test/provision/local-cluster.test.ts): a backup; one member's data wiped and repaired;
 * a scheduled snapshot taken by exactly one main machine; restore refused on a healthy
 * cluster; every member's data wiped and the cluster restored from the backup, with the
 * agents converged to it: a service deployed before the backup runs, one deployed after
 * it is gone, and the example `web` answers.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {appendFile, mkdtemp} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {loadClusterFile} from '../../src/config/load.js'
import {openEtcd} from '../../src/etcd/open.js'
import {done as ready, notYet, pollUntil} from '../../src/poll.js'
import {destroyLocalCluster} from '../support/local-cluster.js'
import {berth, type CliResult} from '../support/cli.js'

const name = `dr-${randomBytes(3).toString('hex')}`
const mains = ['main-1', 'main-2', 'main-3']
let dir: string
let env: Record<string, string>
let ips: string[] = []
let urls: string[] = []
const sh = (machine: string, command: string): Promise<CliResult> => berth(['local-cluster', 'ssh', machine, '--name', name, '--', command], {env})

async function check(result: Promise<CliResult>): Promise<string> {
  const r = await result
  if (r.exitCode !== 0) throw new Error(`exit ${r.exitCode}: ${r.stderr || r.stdout}`)
  return r.stdout
}

/** Polls `done` (each poll is a real question to the nodes or etcd) until it holds. */
async function until(what: string, done: () => Promise<boolean>, seconds: number): Promise<void> {
  await pollUntil(async () => (await done() ? ready(undefined) : notYet(false)), {timeoutMs: seconds * 1000, intervalMs: 500, onTimeout: () => new Error(`${what} within ${seconds} s`)})
}

const endpoints = () => ips.map((ip) => `http://${ip}:2379`)
async function etcd<T>(fn: (client: import('etcd3').Etcd3) => Promise<T>, only?: string[]): Promise<T> {
  const client = await openEtcd(only ?? endpoints())
  try {
    return await fn(client)
  } finally {
    client.close()
  }
}
const unitStates = async (unit: string): Promise<string[]> => Promise.all(mains.map(async (m) => (await sh(m, `systemctl is-active ${unit}`)).stdout.trim()))

describe('etcd disaster recovery on three real nodes', {timeout: 25 * 60_000}, () => {
  let backup: string
  let web: Record<string, unknown>

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-dr-'))
    env = {BERTH_STATE_DIR: dir}
    await check(berth(['local-cluster', 'start', '3', '--name', name, '--json'], {env}))
    // Snapshots every 5 s, so the scheduled one is seen within the test.
    await appendFile(path.join(dir, 'local-clusters', name, 'cluster.yaml'), 'etcd: {snapshots: {interval: 5s, keep: 3}}\n')
    const provisioned = await berth(['local-cluster', 'provision', '--name', name, '--json', '--timeout', '400'], {env})
    assert.equal(provisioned.exitCode, 0, provisioned.stderr || provisioned.stdout)
    urls = (JSON.parse(provisioned.stdout) as {urls: string[]}).urls
    ips = (await loadClusterFile(path.join(dir, 'local-clusters', name, 'cluster.yaml'))).cluster.machines.map((m) => m.ip)
    assert.equal(ips.length, 3)
    web = JSON.parse((await etcd((c) => c.get('/berth/services/web').string()))!) as Record<string, unknown>
  })
  after(() => destroyLocalCluster(name, env, dir))

  it('backup: a service deployed before it is in the file; one deployed after it is not', async () => {
    await etcd((c) => c.put('/berth/services/before').value(JSON.stringify({...web, ports: ['8081:80']})).exec())
    await until('berth-before active on every node', async () => (await unitStates('berth-before')).every((s) => s === 'active'), 120)
    backup = path.join(dir, 'cluster.snapshot')
    const result = await berth(['cluster', 'backup', '--local-cluster', name, '--out', backup, '--json'], {env})
    assert.equal(result.exitCode, 0, result.stderr)
    const meta = JSON.parse(result.stdout) as {cluster: string; members: {name: string}[]; revision: string}
    assert.equal(meta.cluster, name)
    assert.deepEqual(meta.members.map((m) => m.name).sort(), mains)
    await etcd((c) => c.put('/berth/services/after').value(JSON.stringify({...web, ports: ['8082:80']})).exec())
    await until('berth-after active on every node', async () => (await unitStates('berth-after')).every((s) => s === 'active'), 120)
  })

  it('repair-member: main-2\'s data dir wiped, then rebuilt as a learner and promoted; 3 healthy voters, data intact', async () => {
    await check(sh('main-2', 'systemctl stop etcd && rm -rf /var/lib/etcd/berth && systemctl start --no-block etcd'))
    // What main-2 now holds by itself: nothing of the desired state (or it does not answer at all).
    const lost = await etcd((c) => c.get('/berth/services/before').serializable(true).string(), [endpoints()[1]!]).catch(() => null)
    assert.equal(lost, null, 'main-2 lost its data')
    const dry = await check(berth(['cluster', 'repair-member', 'main-2', '--local-cluster', name, '--dry-run'], {env}))
    assert.match(dry, new RegExp(`3\\. Remove main-2's member \\(http://${ips[1]!.replaceAll('.', '\\.')}:2380\\) from etcd`))
    const result = await berth(['cluster', 'repair-member', 'main-2', '--local-cluster', name], {env})
    assert.equal(result.exitCode, 0, result.stderr || result.stdout)
    const status = JSON.parse(await check(berth(['cluster', 'status', '--local-cluster', name, '--json'], {env}))) as {etcd: {healthy: number}; machines: {name: string; etcd: string}[]}
    assert.equal(status.etcd.healthy, 3)
    assert.deepEqual(status.machines.map((m) => m.etcd), ['voter, healthy', 'voter, healthy', 'voter, healthy'])
    // Read from main-2 alone: its new data came from the others.
    const there = await etcd((c) => c.get('/berth/services/before').serializable(true).string(), [endpoints()[1]!])
    assert.ok(there, 'main-2 has the desired state again')
  })

  it('a scheduled snapshot appears on exactly one main machine, the one its record names', async () => {
    let record: {machine: string; file: string} | undefined
    await until('a scheduled snapshot recorded', async () => {
      const text = await etcd((c) => c.get('/berth/snapshots/last').string())
      record = text ? JSON.parse(text) as {machine: string; file: string} : undefined
      return record !== undefined
    }, 60)
    const listings = await Promise.all(mains.map(async (m) => (await check(sh(m, 'ls /var/lib/berth/snapshots 2>/dev/null || true'))).split('\n').filter(Boolean)))
    const holders = mains.filter((_, i) => listings[i]!.includes(record!.file))
    assert.deepEqual(holders, [record!.machine], JSON.stringify(listings))
    const all = listings.flat()
    assert.equal(new Set(all).size, all.length, `no snapshot is on two machines: ${JSON.stringify(listings)}`)
    assert.ok(listings.every((l) => l.length <= 3), 'pruned to keep: 3')
  })

  it('restore on a healthy cluster is refused without --force, and nothing stops', async () => {
    const result = await berth(['cluster', 'restore', backup, '--local-cluster', name], {env})
    assert.equal(result.exitCode, 2, result.stderr)
    assert.match(result.stderr, /refusing to restore: 3 of 3 etcd members answer with a leader/)
    assert.deepEqual(await Promise.all(mains.map(async (m) => (await sh(m, 'systemctl is-active etcd')).stdout.trim())), ['active', 'active', 'active'])
  })

  it('every member\'s data wiped: restore brings etcd back, web answers, agents converge to the backup', async () => {
    await Promise.all(mains.map((m) => check(sh(m, 'systemctl stop etcd && rm -rf /var/lib/etcd/berth'))))
    const started = Date.now()
    const result = await berth(['cluster', 'restore', backup, '--local-cluster', name, '--json'], {env})
    assert.equal(result.exitCode, 0, result.stderr || result.stdout)
    console.log(`# restore: ${((Date.now() - started) / 1000).toFixed(1)} s to a healthy etcd and every agent converged`)
    assert.equal(await etcd((c) => c.get('/berth/services/after').string()), null, 'the service deployed after the backup is not in the restored etcd')
    assert.ok(await etcd((c) => c.get('/berth/services/before').string()))
    await until('berth-after removed and berth-before, berth-web active on every node', async () => {
      const [gone, before, webs] = await Promise.all([unitStates('berth-after'), unitStates('berth-before'), unitStates('berth-web')])
      return gone.every((s) => s !== 'active') && [...before, ...webs].every((s) => s === 'active')
    }, 120)
    await until('every agent converged', async () => {
      const status = JSON.parse(await check(berth(['cluster', 'status', '--local-cluster', name, '--json'], {env}))) as {etcd: {healthy: number}; machines: {agent: {state: string}}[]}
      return status.etcd.healthy === 3 && status.machines.every((m) => m.agent.state === 'converged')
    }, 120)
    // The agents watch again: a service deployed now runs everywhere well before their 30 s resync.
    await etcd((c) => c.put('/berth/services/later').value(JSON.stringify({...web, ports: ['8083:80']})).exec())
    const deployed = Date.now()
    await until('berth-later active on every node', async () => (await unitStates('berth-later')).every((s) => s === 'active'), 60)
    assert.ok(Date.now() - deployed < 15_000, `berth-later ran after ${Date.now() - deployed} ms: the agents' watch did not see it`)
    for (const [i, url] of urls.entries()) assert.match(await (await fetch(url, {signal: AbortSignal.timeout(5000)})).text(), new RegExp(`Hello from main-${i + 1}`))
  })
})
