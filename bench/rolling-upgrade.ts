/**
 * Upgrades on a local cluster of 3 provisioned nodes behind the balancer (issue 5): each
 * machine upgraded alone (`local-cluster upgrade-machine`), then a rolling upgrade of the
 * three to a new installer image while a load generator sends GETs through the balancer.
 * Targets: the rolling upgrade under 1.5x the sum of the single upgrades (it adds only its
 * gates and bookkeeping), zero failed requests. Prints a Markdown table.
 * Usage: node dist/bench/rolling-upgrade.js
 */
import {randomBytes} from 'node:crypto'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {performance} from 'node:perf_hooks'

import {startLoad} from '../test/upgrade/load.js'
import {dropInstallerImage, localCli, newInstallerImage, removeLabelled} from '../test/upgrade/story.js'

const name = `bench-up-${randomBytes(3).toString('hex')}`
const state = await mkdtemp(path.join(tmpdir(), 'berth-bench-'))
const cli = localCli(name, state)

async function step(args: string[]): Promise<{ms: number; stdout: string}> {
  const start = performance.now()
  const result = await cli(args)
  if (result.exitCode !== 0) throw new Error(`berth ${args.join(' ')} failed: ${result.stderr}`)
  return {ms: performance.now() - start, stdout: result.stdout}
}

const rows: string[] = []
let made: [string, string] | undefined
try {
  await step(['local-cluster', 'start', '3'])
  const provision = await step(['local-cluster', 'provision', '--json'])
  const provisioned = JSON.parse(provision.stdout) as {installerImage: string; secondsFromBuiltImage: number}
  const url = `${(JSON.parse((await step(['local-cluster', 'balancer', 'up', '--json'])).stdout) as {url: string}).url}/`
  const singles: number[] = []
  const singleLoad = startLoad(url)
  for (const machine of ['main-1', 'main-2', 'main-3']) singles.push((await step(['local-cluster', 'upgrade-machine', machine])).ms)
  const duringSingles = await singleLoad.stop()
  const tag = await newInstallerImage(name, provisioned.installerImage, `bench${randomBytes(2).toString('hex')}`)
  made = [provisioned.installerImage, tag]
  const load = startLoad(url)
  const rolling = await step(['local-cluster', 'rolling-upgrade', '--image', tag])
  const report = await load.stop()
  const sum = singles.reduce((a, b) => a + b, 0)
  const s = (ms: number) => (ms / 1000).toFixed(1)
  rows.push(
    `| local-cluster provision, pushed images → web answering on 3 nodes | ${provisioned.secondsFromBuiltImage.toFixed(1)} s | < 60 s |`,
    `| upgrade-machine, each of 3 alone (drain, stop, remove, installer, gate, ready) | ${singles.map(s).join(' / ')} s | |`,
    `| sum of the 3 single upgrades | ${s(sum)} s | |`,
    `| rolling-upgrade of 3 machines to a new installer image | ${s(rolling.ms)} s | |`,
    `| rolling ÷ sum of singles | ${(rolling.ms / sum).toFixed(2)}x | < 1.5x |`,
    `| requests through the balancer during the rolling upgrade (4 workers) | ${report.requests} | |`,
    `| failed requests (non-200 + errors) during the rolling upgrade | ${report.non200 + report.errors} | 0 |`,
    `| failed requests during the 3 single upgrades (${duringSingles.requests} sent) | ${duringSingles.non200 + duringSingles.errors} | 0 |`,
  )
  if (report.failures.length > 0) console.error(`failures: ${report.failures.join('; ')}`)
} finally {
  await removeLabelled(name)
  if (made) await dropInstallerImage(...made)
  await rm(state, {recursive: true, force: true})
}
console.log('\n### Upgrades on a local cluster of 3 nodes behind the balancer\n')
console.log('| what | measured | target |')
console.log('|---|---:|---|')
for (const row of rows) console.log(row)
