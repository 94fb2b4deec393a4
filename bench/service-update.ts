/**
 * Service updates on a provisioned 3-node local cluster (issue 13): web, as 3 replicas with
 * its fixed host port (one per node, stop-first) and an http check, behind the local
 * HAProxy, while 4 clients send GETs through it and count every non-200 answer and failed
 * request:
 * 1. a spec change (`berth service update web --env K=V`, followed until it ends);
 * 2. an auto-upgrade: a changed image pushed to the cluster's registry under web's tag,
 *    timed from the end of the push until every replica is active on the new digest;
 * 3. a broken update (its check's path is missing) deployed, rolled back by itself: timed
 *    from the deploy until the rollout says rolled-back and until all 3 serve again.
 * Then change → running for one replica without a host port: 20 `service update --env`
 * of it, each timed from the command to its new container's `start` event on its node,
 * beside 20 bare `docker run -d` of the same image on the same node (the floor), timed from
 * the command to its start event the same way. Prints Markdown tables.
 * Usage: node dist/bench/service-update.js [CHANGES]
 *        BERTH_BENCH_CLUSTER=NAME reuses a provisioned local cluster (web is left replicated).
 *        BERTH_BENCH_RETRIES=0 renders the balancer without retries, so the failed requests
 *        counted are those the agent's drain (and only it) did not prevent; default 3, as before.
 */
import {randomBytes} from 'node:crypto'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {performance} from 'node:perf_hooks'
import {setTimeout} from 'node:timers/promises'
import {execa} from 'execa'

import {findBalancer} from '../src/balancer/docker.js'
import {serverStats} from '../src/balancer/local.js'
import type {RolloutRecord} from '../src/layout/records.js'
import type {ServiceSpec} from '../src/spec/service.js'
import type {CliResult} from '../test/support/cli.js'
import {type LoadReport, startLoad} from '../test/upgrade/load.js'
import {clusterCli, localCli, removeLabelled} from '../test/upgrade/story.js'
import {startEvents} from './docker-events.js'
import {percentile, when} from './timing.js'

const changes = Number(process.argv[2] ?? 20)
const reuse = process.env.BERTH_BENCH_CLUSTER
const name = reuse ?? `bench-svc-${randomBytes(3).toString('hex')}`
const state = reuse ? process.env.BERTH_STATE_DIR ?? path.join(tmpdir(), 'unused') : await mkdtemp(path.join(tmpdir(), 'berth-bench-'))
const work = await mkdtemp(path.join(tmpdir(), 'berth-bench-svc-'))
const local = localCli(name, state)
const cluster = clusterCli(name, state)
const nodeContainer = (machine: string) => `berth-${name}-${machine}`

interface Row {replica: string; machine?: string; observed: string; digest?: string; revision?: string}

function ok(result: CliResult, what: string): string {
  if (result.exitCode !== 0) throw new Error(`${what} failed (${result.exitCode}): ${result.stderr || result.stdout}`)
  return result.stdout
}
const ps = async (service: string): Promise<Row[]> => (JSON.parse(ok(await cluster(['service', 'ps', service, '--json']), 'service ps')) as {replicas: Row[]}).replicas
const rollout = async (service: string): Promise<RolloutRecord | undefined> => (JSON.parse(ok(await cluster(['service', 'history', service, '--json']), 'service history')) as {rollout?: RolloutRecord}).rollout
/** Every one of `count` replicas active on one revision and no rollout under way. */
async function settled(service: string, count: number, test: (rows: Row[]) => boolean = () => true): Promise<boolean> {
  const rows = await ps(service)
  const r = await rollout(service)
  return rows.length === count && rows.every((row) => row.observed === 'active' && row.revision === rows[0]!.revision) && (r === undefined || r.state === 'completed' || r.state === 'rolled-back') && test(rows)
}
async function deploy(service: string, spec: object): Promise<CliResult> {
  const file = path.join(work, `${service}.yaml`)
  await writeFile(file, `services:\n  ${service}: ${JSON.stringify(spec)}\n`)
  return cluster(['service', 'deploy', file])
}
const failed = (r: LoadReport) => r.non200 + r.errors
const loadCell = (r: LoadReport) => `${failed(r)} of ${r.requests}${r.failures.length > 0 ? ` (first: ${r.failures.slice(0, 2).join('; ')})` : ''}`

const tables: string[] = []
try {
  if (!reuse) {
    ok(await local(['local-cluster', 'start', '3']), 'local-cluster start')
    ok(await local(['local-cluster', 'provision']), 'local-cluster provision')
  }
  // BERTH_BENCH_RETRIES=0 turns HAProxy's retries off: then only the drain keeps requests from failing.
  const url = `${(JSON.parse(ok(await local(['local-cluster', 'balancer', 'up', '--json', '--retries', process.env.BERTH_BENCH_RETRIES ?? '3']), 'balancer up')) as {url: string}).url}/`
  const {registry} = JSON.parse(ok(await local(['local-cluster', 'status', '--json']), 'status')) as {registry: string}
  const services = (JSON.parse(ok(await cluster(['service', 'ls', '--json']), 'service ls')) as {services: Array<{name: string; spec: ServiceSpec}>}).services
  const provisioned = services.find((s) => s.name === 'web')!.spec
  const image = provisioned.image
  // web as a replicated service: 3 copies on the fixed host port (so one per node and
  // stop-first), an http check, and a short minHealthySeconds so a run takes minutes.
  const web = {image, ports: provisioned.ports, mounts: provisioned.mounts, stopTimeout: provisioned.stopTimeout, replicas: 3,
    health: {http: {port: 80, path: '/index.html'}, interval: 1, timeout: 2}, update: {minHealthySeconds: 2, healthyDeadline: 60}}
  ok(await deploy('web', web), 'deploy web replicated')
  await when(performance.now(), 'web: 3 replicas active', () => settled('web', 3), 240)
  // Each phase starts once HAProxy has every server UP again: a load that began while a
  // server was still rising from the phase before would count that phase's failures.
  const balancer = (await findBalancer(name))!
  const serving = (what: string) => when(performance.now(), `${what}: the balancer has all 3 servers UP`, async () => {
    const servers = await serverStats(balancer)
    return servers.length === 3 && servers.every((s) => s.status === 'UP')
  }, 120)
  await serving('web replicated')

  // 1. A spec change, followed by `service update` until it ends.
  let load = startLoad(url)
  let start = performance.now()
  const update = await cluster(['service', 'update', 'web', '--env', `BENCH=${Date.now()}`])
  const updateMs = performance.now() - start
  const duringUpdate = await load.stop()
  ok(update, 'service update web')

  // 2. Auto-upgrade: a changed image pushed under web's own tag through a node's dockerd.
  ok(await deploy('web', {...web, env: {BENCH: 'auto'}, autoUpgrade: true}), 'deploy web with autoUpgrade')
  await when(performance.now(), 'web settled with autoUpgrade', () => settled('web', 3), 240)
  await serving('web with autoUpgrade')
  const before = (await ps('web'))[0]!.digest
  const qualified = image.split('/')[0]!.includes(':') ? image : `${registry}/${image}`
  const via = nodeContainer((await ps('web'))[0]!.machine!)
  const build = `printf 'FROM %s\\nLABEL berth.bench.push=%s\\n' "$1" "$2" | DOCKER_BUILDKIT=0 docker build -q -t "$1" - >/dev/null && docker push -q "$1" >/dev/null`
  await execa('docker', ['exec', via, 'docker', 'pull', '-q', qualified])
  load = startLoad(url)
  await execa('docker', ['exec', via, 'sh', '-c', build, 'sh', qualified, randomBytes(4).toString('hex')])
  start = performance.now()
  const upgradeMs = await when(start, 'every replica on the pushed digest', () => settled('web', 3, (rows) => rows.every((r) => r.digest !== undefined && r.digest !== before)), 300)
  const duringUpgrade = await load.stop()
  const after = (await ps('web'))[0]!.digest

  // 3. A broken update: its check's path is missing; the rollout rolls back by itself.
  await serving('web upgraded')
  const good = (await ps('web'))[0]!.revision
  load = startLoad(url)
  start = performance.now()
  ok(await deploy('web', {...web, env: {BENCH: 'auto'}, autoUpgrade: true, health: {...web.health, http: {port: 80, path: '/missing'}}, update: {...web.update, healthyDeadline: 15}}), 'deploy broken web')
  const rolledBackMs = await when(start, 'the broken update rolled back', async () => (await rollout('web'))?.state === 'rolled-back', 300)
  const servingMs = await when(start, 'web: 3 replicas active after the rollback', () => settled('web', 3, (rows) => rows[0]!.revision !== good), 300)
  const duringBroken = await load.stop()
  const message = (await rollout('web'))?.message ?? ''

  tables.push([
    `\n### Service updates on a 3-node local cluster: web (3 replicas, host port 8080, stop-first, http check) behind the local HAProxy, 4 clients\n`,
    '| what | failed requests (non-200 + errors) of sent | time | target |',
    '|---|---:|---:|---|',
    `| spec change: \`service update web --env\`, 3 batches | ${loadCell(duringUpdate)} | ${(updateMs / 1000).toFixed(1)} s (command → completed) | 0 failed |`,
    `| auto-upgrade: push under web's tag → every replica active on the new digest (${before?.slice(7, 19)} → ${after?.slice(7, 19)}) | ${loadCell(duringUpgrade)} | ${(upgradeMs / 1000).toFixed(1)} s | 0 failed; < 10 s |`,
    `| broken update (check path /missing, healthyDeadline 15 s) rolled back by itself | ${loadCell(duringBroken)} | ${(rolledBackMs / 1000).toFixed(1)} s to rolled-back, ${(servingMs / 1000).toFixed(1)} s to 3 active | 0 failed |`,
  ].join('\n'))
  console.error(`rollback message: ${message}`)

  // 4. Change → running for one replica without a host port, beside a bare docker run.
  const digest = after ?? before
  const runRef = digest ? `${qualified.replace(/:[^/:]+$/, '')}@${digest}` : qualified
  const lat = {image, command: ['/usr/local/bin/busybox', 'httpd', '-f', '-p', '80', '-h', '/'], replicas: 1, stopTimeout: 2, env: {CHANGE: '0'}, update: {minHealthySeconds: 0}}
  ok(await deploy('lat', lat), 'deploy lat')
  await when(performance.now(), 'lat active', () => settled('lat', 1), 120)
  const machine = (await ps('lat'))[0]!.machine!
  // start-first's extra copy is pinned to the same node, so one node's events see every start.
  ok(await deploy('lat-sf', {...lat, placement: {constraints: [`name == ${machine}`]}, update: {...lat.update, order: 'start-first'}}), 'deploy lat-sf')
  await when(performance.now(), 'lat-sf active', () => settled('lat-sf', 1), 120)
  const ms = (n: number) => `${n.toFixed(0)}`
  const sorted = (s: number[]) => [...s].sort((a, b) => a - b)
  const stopFirst = await timeChanges('lat')
  const startFirst = await timeChanges('lat-sf')
  await cluster(['service', 'rm', 'lat'])
  await cluster(['service', 'rm', 'lat-sf'])
  const f = sorted([...stopFirst.floor, ...startFirst.floor])
  const row = (what: string, samples: number[], target: string) => {
    const v = sorted(samples)
    return v.length > 0 ? `| ${what} | ${ms(percentile(v, 50))} | ${ms(percentile(v, 95))} | ${ms(v.at(-1)!)} | ${(percentile(v, 50) / percentile(f, 50)).toFixed(2)}x | ${target} |` : `| ${what} | n/a (audit entries did not line up) | | | | ${target} |`
  }
  tables.push([
    `\n### Change → running for one replica on ${machine} (${changes} changes each; to the new container's start event on the node)\n`,
    '| what | p50 ms | p95 ms | max ms | p50 ÷ floor | target |',
    '|---|---:|---:|---:|---:|---|',
    `| floor: \`docker run -d\` of the same image on the same node (through \`docker exec\`) | ${ms(percentile(f, 50))} | ${ms(percentile(f, 95))} | ${ms(f.at(-1)!)} | 1.00x | |`,
    row('stop-first: `berth service update lat --env --detach`', stopFirst.berth, ''),
    row('stop-first from the spec stored (its audit entry\'s time)', stopFirst.fromStored, '< 2x'),
    row('start-first: `berth service update lat-sf --env --detach` (the extra copy\'s start)', startFirst.berth, ''),
    row('start-first from the spec stored', startFirst.fromStored, '< 1.5x'),
    row('the CLI\'s own run until it returned (spec stored)', [...stopFirst.cliReturn, ...startFirst.cliReturn], ''),
  ].join('\n'))

  /** `changes` env changes of one service, each timed from the command and from the spec stored to its first new container's start, each followed by a bare `docker run` on the node (the floor). */
  async function timeChanges(service: string): Promise<{berth: number[]; floor: number[]; cliReturn: number[]; fromStored: number[]}> {
    const events = startEvents(nodeContainer(machine))
    await setTimeout(500)
    const samples = {berth: [] as number[], floor: [] as number[], cliReturn: [] as number[]}
    const startedAt: number[] = []
    try {
      for (let i = 1; i <= changes; i++) {
        const t0 = Date.now()
        const changed = await cluster(['service', 'update', service, '--env', `CHANGE=${i}`, '--detach'])
        samples.cliReturn.push(Date.now() - t0)
        ok(changed, `service update ${service}`)
        startedAt.push((await events.next((e) => e.service === service)).ms)
        samples.berth.push(startedAt.at(-1)! - t0)
        // Each change's own times, for lining up with the nodes' journals (where the time goes).
        console.error(`${service} change ${i}: command at ${new Date(t0).toISOString()}, returned after ${samples.cliReturn.at(-1)} ms, started after ${samples.berth.at(-1)!.toFixed(0)} ms`)
        await when(performance.now(), `${service} settled`, () => settled(service, 1), 60)

        const f0 = Date.now()
        ok(await execa('docker', ['exec', nodeContainer(machine), 'docker', 'run', '-d', '--rm', '--name', `bench-floor-${service}-${i}`, runRef, '/usr/local/bin/busybox', 'httpd', '-f', '-p', '80', '-h', '/'], {reject: false}) as CliResult, 'docker run')
        samples.floor.push((await events.next((e) => e.name === `bench-floor-${service}-${i}`)).ms - f0)
        await execa('docker', ['exec', nodeContainer(machine), 'docker', 'rm', '-f', `bench-floor-${service}-${i}`], {reject: false})
      }
    } finally {
      events.stop()
    }
    // The spec stored, as its audit entry stamps it (the CLI's write, on this host's clock): from there on the time is the cluster's, not the CLI's start-up.
    const {entries} = JSON.parse(ok(await cluster(['audit', '--service', service, '--json']), 'audit')) as {entries: Array<{at: string; action: string; from: {via: string}}>}
    const stored = entries.filter((e) => e.action === 'service.put' && e.from.via === 'cli').slice(-changes).map((e) => Date.parse(e.at))
    return {...samples, fromStored: stored.length === startedAt.length ? startedAt.map((at, i) => at - stored[i]!) : []}
  }
} finally {
  if (!reuse) {
    await local(['local-cluster', 'destroy']).catch(() => undefined)
    await removeLabelled(name)
    await rm(state, {recursive: true, force: true})
  }
  await rm(work, {recursive: true, force: true})
}
for (const table of tables) console.log(table)
