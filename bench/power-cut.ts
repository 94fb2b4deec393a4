/**
 * A power cut (issue 10): every node of a provisioned 3-node local cluster killed at once
 * (SIGKILL, no shutdown) and started again, nobody acting after it, until the example
 * service answers on every node again (aim < 30 s). Beside it, in the same run, the floor:
 * from the same start until every node's SSH answers (the nodes' own boot), so the table
 * also says what berth adds: unsealing the node secrets, etcd's quorum, the agent, web.
 * Usage: node dist/bench/power-cut.js [CUTS]
 */
import {randomBytes} from 'node:crypto'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {performance} from 'node:perf_hooks'
import {setTimeout} from 'node:timers/promises'
import {execa} from 'execa'

import {packageRoot} from '../src/paths.js'
import {printTable} from './timing.js'

const cuts = Number(process.argv[2] ?? 3)
const cli = path.join(packageRoot, 'bin', 'run.js')
const state = await mkdtemp(path.join(tmpdir(), 'berth-bench-'))
const env = {BERTH_STATE_DIR: state}
const name = `cut-${randomBytes(3).toString('hex')}`
const berth = (args: string[]) => execa(process.execPath, [cli, ...args], {env})

/** Resolves with the time, from `since`, at which `probe` first holds (polled every 100 ms). */
async function when(since: number, probe: () => Promise<boolean>, seconds = 300): Promise<number> {
  for (const deadline = performance.now() + seconds * 1000; performance.now() < deadline; await setTimeout(100)) {
    if (await probe()) return performance.now() - since
  }
  throw new Error(`not within ${seconds} s`)
}

const answers = (url: string) => async () => {
  const response = await fetch(url, {signal: AbortSignal.timeout(1000)}).catch(() => undefined)
  return response?.ok === true
}

const samples = {ssh: [] as number[], web: [] as number[]}
try {
  await berth(['local-cluster', 'start', '3', '--name', name])
  const {stdout} = await berth(['local-cluster', 'provision', '--name', name, '--json'])
  const urls = (JSON.parse(stdout) as {urls: string[]}).urls
  const nodes = [1, 2, 3].map((i) => `berth-${name}-main-${i}`)
  for (let i = 0; i < cuts; i++) {
    await execa('docker', ['kill', ...nodes])
    const start = performance.now()
    await execa('docker', ['start', ...nodes])
    const [ssh, web] = await Promise.all([
      Promise.all([1, 2, 3].map((n) => when(start, async () => (await berth(['local-cluster', 'ssh', `main-${n}`, '--name', name, '--', 'true']).catch(() => undefined))?.exitCode === 0))),
      Promise.all(urls.map((url) => when(start, answers(url)))),
    ])
    samples.ssh.push(Math.max(...ssh))
    samples.web.push(Math.max(...web))
  }
} finally {
  await berth(['local-cluster', 'destroy', '--name', name]).catch(() => undefined)
  const left = (await execa('docker', ['ps', '-aq', '--filter', `label=berth.cluster=${name}`])).stdout.split('\n').filter(Boolean)
  if (left.length > 0) await execa('docker', ['rm', '-fv', ...left], {reject: false})
  await rm(state, {recursive: true, force: true})
}
const sorted = (s: number[]) => [...s].sort((a, b) => a - b)
const ratio = sorted(samples.web.map((w, i) => w / samples.ssh[i]!))
printTable('Power cut: every node of a provisioned 3-node local cluster killed and started, nobody acting', [
  {what: 'floor: docker start → every node answers SSH (its own boot)', samples: sorted(samples.ssh)},
  {what: 'docker start → web answers on every node', samples: sorted(samples.web), target: '< 30000 ms', note: `${ratio[Math.floor(ratio.length / 2)]!.toFixed(1)}x the floor (median of the pairs)`},
])
