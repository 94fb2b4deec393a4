/**
 * etcd disaster recovery at size (issue 10): a 3-node local cluster running N services
 * (busybox sleep loops from the example image, default 200) loses every member's etcd data;
 * `cluster restore` from a backup brings etcd back, and the agents converge with every
 * service running (target < 60 s). Whole CLI processes, real nodes.
 * Usage: node dist/bench/restore.js [SERVICES]
 */
import {randomBytes} from 'node:crypto'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {performance} from 'node:perf_hooks'
import {setTimeout as sleep} from 'node:timers/promises'
import {execa} from 'execa'

import {loadClusterFile} from '../src/config/load.js'
import {openEtcd} from '../src/etcd/open.js'
import {packageRoot} from '../src/paths.js'
import {printTable} from './timing.js'

const services = Number(process.argv[2] ?? 200)
const cli = path.join(packageRoot, 'bin', 'run.js')
const state = await mkdtemp(path.join(tmpdir(), 'berth-bench-restore-'))
const env = {BERTH_STATE_DIR: state}
const name = `bench-dr-${randomBytes(3).toString('hex')}`
const mains = ['main-1', 'main-2', 'main-3']

const berth = async (args: string[]) => (await execa(process.execPath, [cli, ...args], {env})).stdout
const sh = async (machine: string, command: string) => berth(['local-cluster', 'ssh', machine, '--name', name, '--', command])
const activeBench = async () => Promise.all(mains.map(async (m) => Number((await sh(m, 'systemctl list-units "berth-bench-*" --state=active --no-legend | wc -l')).trim())))
async function until(what: string, done: () => Promise<boolean>, seconds: number): Promise<void> {
  for (const deadline = Date.now() + seconds * 1000; !(await done().catch(() => false));) {
    if (Date.now() > deadline) throw new Error(`${what} within ${seconds} s`)
    await sleep(250)
  }
}
const converged = async () => {
  const status = JSON.parse(await berth(['cluster', 'status', '--local-cluster', name, '--json'])) as {etcd: {healthy: number}; machines: {agent: {state: string}}[]}
  return status.etcd.healthy === 3 && status.machines.every((m) => m.agent.state === 'converged')
}

const rows: {what: string; samples: number[]; target?: string}[] = []
try {
  await berth(['local-cluster', 'start', '3', '--name', name])
  await berth(['local-cluster', 'provision', '--name', name, '--timeout', '400'])
  const {cluster} = await loadClusterFile(path.join(state, 'local-clusters', name, 'cluster.yaml'))
  const etcd = await openEtcd(cluster.machines.map((m) => `http://${m.ip}:2379`))
  const web = JSON.parse((await etcd.get('/berth/services/web').string())!) as {image: string}
  const deployStart = performance.now()
  for (let i = 0; i < services; i++) {
    await etcd.put(`/berth/services/bench-${i}`).value(JSON.stringify({image: web.image, command: ['/usr/local/bin/busybox', 'sleep', '1000000'], stopTimeout: 1})).exec()
  }
  etcd.close()
  await until(`${services} services active on every node`, async () => (await activeBench()).every((n) => n >= services), 1800)
  rows.push({what: `deploy ${services} services on 3 nodes (setup)`, samples: [performance.now() - deployStart]})
  const file = path.join(state, 'bench.snapshot')
  const backupStart = performance.now()
  await berth(['cluster', 'backup', '--local-cluster', name, '--out', file])
  rows.push({what: `cluster backup (${(await readFile(file)).length} bytes)`, samples: [performance.now() - backupStart]})

  await Promise.all(mains.map((m) => sh(m, 'systemctl stop etcd && rm -rf /var/lib/etcd/berth')))
  const start = performance.now()
  await berth(['cluster', 'restore', file, '--local-cluster', name])
  const restored = performance.now() - start
  await until('every service active', async () => (await activeBench()).every((n) => n >= services), 600)
  const running = performance.now() - start
  await until('every agent converged', converged, 600)
  rows.push(
    {what: 'cluster restore: every member\'s data lost → etcd healthy, each agent a converged pass', samples: [restored]},
    {what: `… → every one of ${services} services active on every node`, samples: [running], target: '< 60000 ms'},
    {what: '… → every agent converged (cluster status)', samples: [performance.now() - start], target: '< 60000 ms'},
  )
} finally {
  await execa(process.execPath, [cli, 'local-cluster', 'destroy', '--name', name], {env, reject: false})
  const left = (await execa('docker', ['ps', '-aq', '--filter', `label=berth.cluster=${name}`])).stdout.split('\n').filter(Boolean)
  if (left.length > 0) await execa('docker', ['rm', '-fv', ...left], {reject: false})
  await rm(state, {recursive: true, force: true})
}
printTable(`etcd restore with ${services} services on 3 nodes`, rows)
