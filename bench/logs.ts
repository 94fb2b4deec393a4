/**
 * `service logs` (issue 14) on a 3-node local cluster it boots and provisions itself:
 * - follow: a line written in a web container (its PID 1's stdout, stamped with the time it
 *   was written) → printed by `service logs web -f`, beside the floor measured on the same
 *   lines: `journalctl -f` run on the node through `docker exec` (journald's own delivery,
 *   no SSH, no berth);
 * - `service logs web --tail 1000` across the 3 machines, whole CLI processes, beside one
 *   machine's `local-cluster ssh NODE -- journalctl -u berth-web -n 1000 -o json`.
 * Usage: node dist/bench/logs.js [LINES]
 */
import {randomBytes} from 'node:crypto'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {performance} from 'node:perf_hooks'
import {setTimeout as sleep} from 'node:timers/promises'
import {execa, type ResultPromise} from 'execa'

import {packageRoot} from '../src/paths.js'
import {measure, printTable} from './timing.js'

const lines = Number(process.argv[2] ?? 30)
const cli = path.join(packageRoot, 'bin', 'run.js')
const state = await mkdtemp(path.join(tmpdir(), 'berth-bench-'))
const env = {BERTH_STATE_DIR: state}
const name = `logs-${randomBytes(3).toString('hex')}`
const berth = (args: string[]) => execa(process.execPath, [cli, ...args], {env})
const node = (i: number) => `berth-${name}-main-${i}`
const nowMs = () => performance.timeOrigin + performance.now()

/** Collects `tag <written-at-ns>` lines from a follower's stdout, with the time each was seen. */
function watch(follower: ResultPromise, seen: Map<string, number>): void {
  let rest = ''
  follower.stdout!.on('data', (chunk: Buffer) => {
    const at = nowMs()
    const parts = (rest + chunk.toString()).split('\n')
    rest = parts.pop() ?? ''
    for (const line of parts) {
      const m = /(bench-\d+) (\d+)/.exec(line)
      if (m && !seen.has(m[1]!)) seen.set(m[1]!, at - Number(m[2]!) / 1e6)
    }
  })
}

async function waitFor(what: string, done: () => boolean, ms = 15_000): Promise<void> {
  for (const deadline = Date.now() + ms; !done();) {
    if (Date.now() > deadline) throw new Error(`${what} not within ${ms} ms`)
    await sleep(20)
  }
}

const samples = {berth: [] as number[], floor: [] as number[], tail: [] as number[], one: [] as number[]}
const followers: ResultPromise[] = []
let sample = ''
try {
  await berth(['local-cluster', 'start', '3', '--name', name])
  await berth(['local-cluster', 'provision', '--name', name])
  const viaBerth = new Map<string, number>()
  const viaFloor = new Map<string, number>()
  followers.push(execa(process.execPath, [cli, 'service', 'logs', 'web', '-f', '--tail', '0', '--local-cluster', name], {env, reject: false}))
  for (const i of [1, 2, 3]) followers.push(execa('docker', ['exec', node(i), 'journalctl', '-u', 'berth-web.service', '-f', '-n', '0', '-o', 'cat'], {reject: false}))
  watch(followers[0]!, viaBerth)
  for (const f of followers.slice(1)) watch(f, viaFloor)
  await sleep(5000) // every follower connected
  for (let n = 0; n < lines; n++) {
    const tag = `bench-${n}`
    await execa('docker', ['exec', node(1 + (n % 3)), 'docker', 'exec', 'berth-web', 'sh', '-c', `echo "${tag} $(date +%s%N)" >/proc/1/fd/1`])
    await waitFor(tag, () => viaBerth.has(tag) && viaFloor.has(tag))
    samples.berth.push(viaBerth.get(tag)!)
    samples.floor.push(viaFloor.get(tag)!)
  }
  // At least 1,000 lines in each replica's journal before the tails.
  for (const i of [1, 2, 3]) await execa('docker', ['exec', node(i), 'docker', 'exec', 'berth-web', 'sh', '-c', 'i=0; while [ $i -lt 1000 ]; do echo "filler $i"; i=$((i+1)); done >/proc/1/fd/1'])
  await sleep(1000)
  samples.tail = await measure(() => berth(['service', 'logs', 'web', '--tail', '1000', '--local-cluster', name, '--json']), 10)
  sample = (await berth(['service', 'logs', 'web', '--tail', '4', '--local-cluster', name])).stdout
  samples.one = await measure(() => berth(['local-cluster', 'ssh', 'main-1', '--name', name, '--', 'journalctl', '-u', 'berth-web.service', '-n', '1000', '-o', 'json', '--no-pager']), 10)
} finally {
  for (const f of followers) f.kill('SIGTERM')
  await Promise.all(followers.map((f) => f.catch(() => undefined)))
  await berth(['local-cluster', 'destroy', '--name', name]).catch(() => undefined)
  const left = (await execa('docker', ['ps', '-aq', '--filter', `label=berth.cluster=${name}`])).stdout.split('\n').filter(Boolean)
  if (left.length > 0) await execa('docker', ['rm', '-fv', ...left], {reject: false})
  await rm(state, {recursive: true, force: true})
}
const sorted = (s: number[]) => [...s].sort((a, b) => a - b)
const median = (s: number[]) => sorted(s)[Math.floor(s.length / 2)]!
printTable('service logs on a provisioned 3-node local cluster', [
  {what: 'floor: line written → seen by journalctl -f on its node (docker exec, no SSH)', samples: sorted(samples.floor)},
  {what: '`service logs web -f`: line written → printed', samples: sorted(samples.berth), target: 'p50, p95 < 500 ms', note: `p50 ${(median(samples.berth) / median(samples.floor)).toFixed(1)}x the floor`},
  {what: 'floor: `local-cluster ssh main-1 -- journalctl -n 1000 -o json` (one machine)', samples: samples.one},
  {what: '`service logs web --tail 1000 --json`, 3 machines, 1,000+ lines on each (1,000 printed)', samples: samples.tail, target: 'report', note: `${(median(samples.tail) / median(samples.one)).toFixed(2)}x one machine's`},
])
console.log(`\n\`berth service logs web --tail 4\`:\n\n${sample}`)
