/**
 * First-boot generation and CLI start-up, measured as a user meets them: whole `berth`
 * processes. Targets (issue 2): 1,000 machines under 1 s; `berth --help` under 2.5x `node -e 0`.
 */
import {existsSync} from 'node:fs'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {pathToFileURL} from 'node:url'
import {execa} from 'execa'

import {packageRoot} from '../src/paths.js'
import {measure, percentile, printTable} from './timing.js'

const cli = path.join(packageRoot, 'bin', 'run.js')
const dir = await mkdtemp(path.join(tmpdir(), 'berth-bench-'))
try {
  const key = path.join(packageRoot, 'test', 'fixtures', 'provisioner.pub')
  const machines = Array.from({length: 1000}, (_, i) => {
    const ip = `10.${100 + Math.floor(i / 250)}.${i % 250}.10`
    return `  - {name: m${i}, ip: ${ip}, role: ${i < 5 ? 'main' : 'worker'}}`
  })
  const config = path.join(dir, 'cluster.yaml')
  await writeFile(config, `name: bench\nregistry: {url: "10.99.0.2:5000"}\nssh: {authorizedKeyFiles: ["${key}"]}\nmachines:\n${machines.join('\n')}\n`)
  const run = (args: string[], env: Record<string, string> = {}) => execa(process.execPath, [cli, ...args], {env})
  const generate = (out: string, state: string, format = 'coreos') => run(['cluster', 'new-cloud-config', '-c', config, '-f', format, '-o', out, '--state-dir', state])
  const rows = []
  // Output on tmpfs is berth's own cost; on disk the file system adds its share. On a
  // journal-less ext4 that share grows with the files deleted there in the last minutes
  // (the inode allocator steps over each one; the README has the details), so bench/run.sh
  // also mounts a journaled ext4 from a loop file. The tmpfs rows run first: their deletes
  // land on tmpfs and do not slow the disk rows.
  const journaled = process.env.BERTH_BENCH_JOURNALED_DIR
  const places = [
    ...existsSync('/dev/shm') ? [{where: 'tmpfs', root: await mkdtemp('/dev/shm/berth-bench-')}] : [],
    {where: 'disk', root: dir},
    ...journaled ? [{where: 'journaled ext4 (loop file)', root: await mkdtemp(path.join(journaled, 'berth-bench-'))}] : [],
  ]
  try {
    for (const {where, root} of places) {
      let fresh = 0
      const firstRun = await measure(() => generate(path.join(root, `new-${fresh}`), path.join(dir, `state-${where}-${fresh++}`)), 5, 0)
      rows.push({what: `1,000 machines, coreos, keys generated, new folder, ${where}`, samples: firstRun, target: '< 1000 ms'})
      for (const format of ['coreos', 'ignition', 'cloud-init']) {
        const samples = await measure(() => generate(path.join(root, 'out'), path.join(dir, `state-${where}-0`), format), 5)
        rows.push({what: `1,000 machines, ${format}, keys remembered, folder replaced, ${where}`, samples, target: '< 1000 ms'})
      }
    }
  } finally {
    for (const {root} of places) if (root !== dir) await rm(root, {recursive: true, force: true})
  }
  const node = await measure(() => execa(process.execPath, ['-e', '0']), 20)
  const help = await measure(() => run(['--help']), 20)
  const subHelp = await measure(() => run(['cluster', 'new-cloud-config', '--help']), 20)
  // What the bundle saves (src/cli/fast-start.ts): the same help from node_modules' oclif.
  const unbundledCode = `import {execute} from '@oclif/core/execute'; await execute({dir: ${JSON.stringify(pathToFileURL(cli).href)}, args: ['--help']})`
  const unbundled = await measure(() => execa(process.execPath, ['--input-type=module', '-e', unbundledCode], {cwd: packageRoot}), 20)
  const ratio = (s: number[]) => `${(percentile(s, 50) / percentile(node, 50)).toFixed(2)}x node`
  rows.push({what: 'node -e 0', samples: node})
  rows.push({what: 'berth --help', samples: help, target: '< 2.5x node', note: ratio(help)})
  rows.push({what: 'berth cluster new-cloud-config --help', samples: subHelp, target: '< 2.5x node', note: ratio(subHelp)})
  rows.push({what: 'berth --help, oclif loaded from node_modules (no bundle)', samples: unbundled, note: ratio(unbundled)})
  printTable('First-boot files (`berth cluster new-cloud-config`, whole processes) and start-up', rows)
} finally {
  await rm(dir, {recursive: true, force: true})
}
