/**
 * A machine lost (issue 12): on a provisioned 3-node local cluster, a node holding some of
 * a 4-replica service is stopped (`docker stop -t 2`), and the clock runs until all four
 * replicas run on the other two. Beside it, in the same run and on the same three nodes,
 * Docker Swarm (its three managers inside the nodes) does the same for a 4-replica service
 * of the same image. The node stopped is neither berth's scheduler leader nor Swarm's
 * leader, so both measure the move and not an election. Each round deploys afresh (a
 * stopped node comes back empty), and the node is back and settled before the next.
 * Usage: node dist/bench/machine-lost.js [ROUNDS]
 *        BERTH_BENCH_CLUSTER=NAME reuses a provisioned local cluster (its swarm is left).
 */
import {randomBytes} from 'node:crypto'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {performance} from 'node:perf_hooks'
import {execa} from 'execa'

import {type AgentRecord, ETCD_PREFIX, machinesDir, parseMachineKey, schedulerKeys} from '../src/layout/records.js'
import {packageRoot} from '../src/paths.js'
import {printTable, when} from './timing.js'

const rounds = Number(process.argv[2] ?? 3)
const reuse = process.env.BERTH_BENCH_CLUSTER
const cli = path.join(packageRoot, 'bin', 'run.js')
const state = reuse ? undefined : await mkdtemp(path.join(tmpdir(), 'berth-bench-'))
const env = state ? {BERTH_STATE_DIR: state} : {}
const name = reuse ?? `lost-${randomBytes(3).toString('hex')}`
const berth = (args: string[]) => execa(process.execPath, [cli, ...args], {env})
const work = await mkdtemp(path.join(tmpdir(), 'berth-bench-lost-'))
const container = (node: string) => `berth-${name}-${node}`
const inNode = (node: string, args: string[]) => execa('docker', ['exec', container(node), ...args])
const SERVICE = 'lost4'
const REPLICAS = 4

interface Nodes {
  names: string[]
  ip: Map<string, string>
  registry: string
}

async function nodes(): Promise<Nodes> {
  const status = JSON.parse((await berth(['local-cluster', 'status', '--name', name, '--json'])).stdout) as {registry: string; nodes: Array<{name: string; ip: string}>}
  return {names: status.nodes.map((n) => n.name), ip: new Map(status.nodes.map((n) => [n.name, n.ip])), registry: status.registry}
}

/** berth's view, read straight from etcd through the given members: [replica, machine] for each active copy (a stopped node's record may linger until its lease ends), the agents alive, the scheduler's leader. */
async function berthView(client: import('etcd3').Etcd3): Promise<{leader?: string; running: Array<[string, string]>; alive: Set<string>}> {
  const [machines, election] = await Promise.all([
    client.getAll().prefix(machinesDir(ETCD_PREFIX)).strings(),
    client.getAll().prefix(`${schedulerKeys(ETCD_PREFIX).namespace}${schedulerKeys(ETCD_PREFIX).election}/`).sort('Create', 'Ascend').strings(),
  ])
  const running: Array<[string, string]> = []
  const alive = new Set<string>()
  for (const [key, text] of Object.entries(machines)) {
    const parsed = parseMachineKey(key, ETCD_PREFIX)
    if (parsed?.kind !== 'agent') continue
    alive.add(parsed.machine)
    for (const [unit, activeState] of Object.entries((JSON.parse(text) as AgentRecord).services)) {
      if (unit.startsWith(`${SERVICE}.`) && activeState === 'active') running.push([unit, parsed.machine])
    }
  }
  return {leader: Object.values(election)[0], running, alive}
}

/** Swarm's view through one manager: the node of each running task. */
async function swarmRunning(via: string): Promise<string[]> {
  const {stdout} = await inNode(via, ['docker', 'service', 'ps', SERVICE, '--filter', 'desired-state=running', '--format', '{{.Node}} {{.CurrentState}}'])
  return stdout.split('\n').filter((l) => l.includes(' Running ')).map((l) => l.split(' ')[0]!)
}

async function swarmLeader(via: string): Promise<string> {
  const {stdout} = await inNode(via, ['docker', 'node', 'ls', '--format', '{{.Hostname}} {{.ManagerStatus}}'])
  return stdout.split('\n').find((l) => l.endsWith(' Leader'))!.split(' ')[0]!
}

/** Forms a swarm of three managers inside the nodes (left alone when it is already there). */
async function formSwarm(n: Nodes): Promise<void> {
  const [first, ...rest] = n.names
  const info = await inNode(first!, ['docker', 'info', '--format', '{{.Swarm.LocalNodeState}}'])
  if (info.stdout.trim() === 'active') return
  await inNode(first!, ['docker', 'swarm', 'init', '--advertise-addr', n.ip.get(first!)!])
  const token = (await inNode(first!, ['docker', 'swarm', 'join-token', '-q', 'manager'])).stdout.trim()
  for (const node of rest) await inNode(node, ['docker', 'swarm', 'join', '--advertise-addr', n.ip.get(node)!, '--token', token, `${n.ip.get(first!)}:2377`])
}

/** Stops `node`, returns the time until `moved` holds, starts it again and waits until `back` holds. */
async function loseAndRestore(node: string, moved: () => Promise<boolean>, back: () => Promise<boolean>): Promise<number> {
  const start = performance.now()
  await execa('docker', ['stop', '-t', '2', container(node)])
  try {
    return await when(start, `${node}'s replicas running elsewhere`, moved)
  } finally {
    await execa('docker', ['start', container(node)])
    await when(performance.now(), `${node} back`, back, 240)
  }
}

const samples = {berth: [] as number[], swarm: [] as number[]}
const stopped: string[] = []
let etcd: import('etcd3').Etcd3 | undefined
try {
  if (!reuse) {
    await berth(['local-cluster', 'start', '3', '--name', name])
    await berth(['local-cluster', 'provision', '--name', name])
  }
  const n = await nodes()
  const {Etcd3} = await import('etcd3')
  const image = (JSON.parse((await berth(['service', 'ls', '--json', '--local-cluster', name])).stdout) as {services: Array<{name: string; spec: {image: string}}>}).services.find((s) => s.name === 'web')!.spec.image
  await formSwarm(n)
  const specFile = path.join(work, 'lost.yaml')
  await writeFile(specFile, `services:\n  ${SERVICE}: {image: "${image}", replicas: ${REPLICAS}}\n`)

  for (let round = 0; round < rounds; round++) {
    // berth: deploy, wait until all run, stop a node that holds some and does not lead.
    const everyMember = [...n.ip.values()].map((ip) => `http://${ip}:2379`)
    etcd = new Etcd3({hosts: everyMember})
    await berth(['service', 'deploy', specFile, '--local-cluster', name])
    await when(performance.now(), 'berth replicas placed', async () => new Set((await berthView(etcd!)).running.map(([unit]) => unit)).size === REPLICAS)
    const before = await berthView(etcd)
    const swarmLead = await swarmLeader(n.names[0]!)
    const holders = new Set(before.running.map(([, machine]) => machine))
    const node = n.names.find((m) => m !== before.leader && m !== swarmLead && holders.has(m)) ?? n.names.find((m) => m !== before.leader && holders.has(m))!
    stopped.push(node)
    etcd.close()
    // The bench's own client talks only to the members that stay up.
    etcd = new Etcd3({hosts: n.names.filter((m) => m !== node).map((m) => `http://${n.ip.get(m)}:2379`)})
    const client = etcd
    samples.berth.push(await loseAndRestore(node,
      async () => {
        const elsewhere = (await berthView(client)).running.filter(([, machine]) => machine !== node)
        return new Set(elsewhere.map(([unit]) => unit)).size === REPLICAS
      },
      async () => (await berthView(client)).alive.has(node) && (await inNode(node, ['systemctl', 'is-active', 'berth-agent.service'])).exitCode === 0))
    await berth(['service', 'rm', SERVICE, '--local-cluster', name])
    etcd.close()
    etcd = undefined

    // Swarm: the same image, the same count, the same node stopped.
    const via = n.names.find((m) => m !== node)!
    const qualified = image.includes('/') && image.split('/')[0]!.includes(':') ? image : `${n.registry}/${image}`
    await inNode(via, ['docker', 'service', 'create', '--detach', '--quiet', '--name', SERVICE, '--replicas', String(REPLICAS), '--no-resolve-image', qualified])
    await when(performance.now(), 'swarm tasks running', async () => (await swarmRunning(via)).length === REPLICAS)
    if (!(await swarmRunning(via)).includes(node)) await inNode(via, ['docker', 'service', 'update', '--force', '--quiet', SERVICE])
    await when(performance.now(), `a swarm task on ${node}`, async () => {
      const on = await swarmRunning(via)
      return on.length === REPLICAS && on.includes(node)
    })
    samples.swarm.push(await loseAndRestore(node,
      async () => {
        const on = await swarmRunning(via)
        return on.length === REPLICAS && !on.includes(node)
      },
      async () => (await inNode(via, ['docker', 'node', 'ls', '--format', '{{.Hostname}} {{.Status}}'])).stdout.split('\n').includes(`${node} Ready`)))
    await inNode(via, ['docker', 'service', 'rm', SERVICE])
  }
} finally {
  etcd?.close()
  if (!reuse) {
    await berth(['local-cluster', 'destroy', '--name', name]).catch(() => undefined)
    const left = (await execa('docker', ['ps', '-aq', '--filter', `label=berth.cluster=${name}`])).stdout.split('\n').filter(Boolean)
    if (left.length > 0) await execa('docker', ['rm', '-fv', ...left], {reject: false})
    await rm(state!, {recursive: true, force: true})
  }
  await rm(work, {recursive: true, force: true})
}
const sorted = (s: number[]) => [...s].sort((a, b) => a - b)
const ratios = sorted(samples.berth.map((b, i) => b / samples.swarm[i]!))
printTable(`A machine lost: a node holding some of ${REPLICAS} replicas stopped (docker stop -t 2) → all ${REPLICAS} running on the other two (nodes stopped: ${stopped.join(', ')})`, [
  {what: 'Docker Swarm, 3 managers in the same nodes, same image', samples: sorted(samples.swarm)},
  {what: 'berth (scheduler.lostAfter 5 s)', samples: sorted(samples.berth), target: '< 10000 ms', note: `${ratios[Math.floor(ratios.length / 2)]!.toFixed(2)}x Swarm (median of the pairs)`},
])
