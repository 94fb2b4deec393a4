/**
 * The local cluster as a user meets it (issue 3): `local-cluster start 3` with the image
 * built, to 3 healthy etcd members and SSH (target < 20 s); `add-machine` of a main node
 * including its boot (target < 10 s), right after start and again later; destroy. Whole CLI processes, on the real dockerd.
 * Usage: node dist/bench/local-cluster.js [RUNS]
 */
import {randomBytes} from 'node:crypto'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {performance} from 'node:perf_hooks'
import {execa} from 'execa'

import {packageRoot} from '../src/paths.js'
import {printTable} from './timing.js'

const runs = Number(process.argv[2] ?? 3)
const cli = path.join(packageRoot, 'bin', 'run.js')
const state = await mkdtemp(path.join(tmpdir(), 'berth-bench-'))
const env = {BERTH_STATE_DIR: state}

async function timed(args: string[]): Promise<number> {
  const start = performance.now()
  await execa(process.execPath, [cli, ...args], {env})
  return performance.now() - start
}

const image = await timed(['local-cluster', 'build-image'])
const samples = {start: [] as number[], add: [] as number[], addSettled: [] as number[], remove: [] as number[], destroy: [] as number[]}
try {
  for (let i = 0; i < runs; i++) {
    const name = `bench-${randomBytes(3).toString('hex')}`
    samples.start.push(await timed(['local-cluster', 'start', '3', '--name', name]))
    samples.add.push(await timed(['local-cluster', 'add-machine', '--name', name]))
    samples.remove.push(await timed(['local-cluster', 'remove-machine', '--name', name]))
    // Again on a cluster that has run for a while: etcd refuses new members for about
    // five seconds after its members connect (its strict reconfiguration check).
    samples.addSettled.push(await timed(['local-cluster', 'add-machine', '--name', name]))
    await timed(['local-cluster', 'remove-machine', '--name', name])
    samples.destroy.push(await timed(['local-cluster', 'destroy', '--name', name]))
  }
} finally {
  await rm(state, {recursive: true, force: true})
}
const sorted = (s: number[]) => [...s].sort((a, b) => a - b)
printTable('Local cluster (image already built)', [
  {what: 'local-cluster build-image, cached', samples: [image]},
  {what: 'local-cluster start 3 → SSH + 3 healthy etcd members', samples: sorted(samples.start), target: '< 20000 ms'},
  {what: 'local-cluster add-machine right after start (main, boot included, promoted)', samples: sorted(samples.add), target: '< 10000 ms'},
  {what: 'local-cluster add-machine on a cluster up for 10+ s', samples: sorted(samples.addSettled), target: '< 10000 ms'},
  {what: 'local-cluster remove-machine (main)', samples: sorted(samples.remove)},
  {what: 'local-cluster destroy', samples: sorted(samples.destroy)},
])
