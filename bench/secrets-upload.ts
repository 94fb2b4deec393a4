/**
 * Secrets uploaded to 9 machines vs 1 (issue 5's target: under 2x). Nine sshd instances
 * on loopback ports, each with the test sshd's keys and config (scripts/services.sh must
 * have run once), each machine writing into its own scratch folder, whose secrets folder is
 * a tmpfs as on a node; the real fan-out code
 * (`uploadSecrets`, with the CLI's default --parallel) does the work. Prints a Markdown table.
 *   node dist/bench/secrets-upload.js [runs]
 */
import {readFileSync} from 'node:fs'
import {mkdtemp, readFile, rm, writeFile, mkdir} from 'node:fs/promises'
import {availableParallelism, tmpdir} from 'node:os'
import {setTimeout} from 'node:timers/promises'
import path from 'node:path'
import {connect as tcpConnect} from 'node:net'
import {execa} from 'execa'

import {resolveCluster} from '../src/config/load.js'
import {DEFAULT_PARALLEL_UPLOADS} from '../src/cli/flags.js'
import {uploadSecrets} from '../src/provision/upload.js'
import {measure, percentile, printTable} from './timing.js'

const SSH_DIR = process.env.BERTH_TEST_SSH_DIR ?? '/var/lib/berth-test/ssh'
const BASE_PORT = 22300
/** Linux's USER_HZ, the unit of /proc/PID/stat's times. */
const TICKS_PER_SECOND = 100
const runs = Number(process.argv[2] ?? 5)

const portOpen = (port: number) => new Promise<boolean>((resolve) => {
  const s = tcpConnect(port, '127.0.0.1').once('connect', () => { s.destroy(); resolve(true) }).once('error', () => resolve(false))
})

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-bench-upload-'))
  const pids: number[] = []
  const mounts: string[] = []
  try {
    for (let i = 0; i < 9; i++) {
      const port = BASE_PORT + i
      if (await portOpen(port)) throw new Error(`127.0.0.1:${port} is taken; the bench needs ports ${BASE_PORT}-${BASE_PORT + 8}`)
      const pidFile = path.join(dir, `sshd-${i}.pid`)
      // -D keeps sshd in the foreground as our own child, so its pid is known at once.
      const child = execa('/usr/sbin/sshd', ['-D', '-f', path.join(SSH_DIR, 'sshd_config'), '-p', String(port), '-o', `PidFile=${pidFile}`, '-E', path.join(dir, `sshd-${i}.log`)], {reject: false})
      pids.push(child.pid!)
      for (let t = 0; !(await portOpen(port)); t++) {
        if (t > 100) throw new Error(`sshd on ${port} did not listen; see its log`)
        await setTimeout(50)
      }
    }
    const hostKey = (await readFile(path.join(SSH_DIR, 'ssh_host_ed25519_key.pub'), 'utf8')).trim()
    const machines = Array.from({length: 9}, (_, i) => ({name: `m-${i + 1}`, ip: `192.0.2.${11 + i}`, role: i < 3 ? 'main' as const : 'worker' as const}))
    const {cluster} = await resolveCluster({name: 'bench', registry: {url: '192.0.2.2:5000'}, ssh: {authorizedKeys: [(await readFile(path.join(SSH_DIR, 'client_ed25519.pub'), 'utf8')).trim()]}, machines})
    // Each machine's secrets folder is a tmpfs, as first boot makes it on a node: upload-secrets
    // checks that before it writes anything.
    for (const m of machines) {
      const secrets = `${dir}/nodes/${m.name}/etc/berth/secrets`
      await mkdir(secrets, {recursive: true, mode: 0o700})
      await execa('mount', ['-t', 'tmpfs', '-o', 'mode=0700,size=1m', 'tmpfs', secrets])
      mounts.push(secrets)
    }
    const stateDir = path.join(dir, 'state')
    await mkdir(stateDir, {recursive: true, mode: 0o700})
    await writeFile(path.join(stateDir, 'hostkeys.json'), JSON.stringify(Object.fromEntries(machines.map((m) => [m.name, {private: '', public: hostKey}]))), {mode: 0o600})
    const options = {identity: path.join(SSH_DIR, 'client_ed25519'), stateDir, parallel: DEFAULT_PARALLEL_UPLOADS, remoteRoot: `${dir}/nodes/{machine}`,
      address: (m: {name: string}) => ({host: '127.0.0.1', port: BASE_PORT + Number(m.name.slice(2)) - 1})}
    // CPU per machine, berth's and sshd's: here every sshd shares this host's cores with
    // berth, where a real cluster's run on their own machines. An sshd started with -D
    // reaps its per-connection processes, so its children's CPU time counts them all.
    const berthCpu: number[] = []
    const sshdCpu: number[] = []
    const sshdTicks = () => pids.reduce((sum, pid) => {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
      return sum + Number(fields[13]) + Number(fields[14]) // cutime, cstime
    }, 0)
    const upload = async (n: number) => {
      const outcomes = await uploadSecrets(cluster, cluster.machines.slice(0, n), options)
      const failed = outcomes.filter((o) => !o.ok)
      if (failed.length > 0) throw new Error(`${failed[0]!.machine}: ${failed[0]!.step}: ${failed[0]!.error}`)
    }
    const one = await measure(() => upload(1), runs)
    const nine = await measure(() => upload(9), runs)
    // Untimed runs of 9 for the CPU figures; the last connections' processes may still be
    // ending when the upload returns, so their ticks are read a moment later.
    for (let i = 0; i < runs; i++) {
      const [cpu, ticks] = [process.cpuUsage(), sshdTicks()]
      await upload(9)
      const used = process.cpuUsage(cpu)
      await setTimeout(200)
      berthCpu.push((used.user + used.system) / 1000 / 9)
      sshdCpu.push(((sshdTicks() - ticks) * 1000) / TICKS_PER_SECOND / 9)
    }
    const ratio = percentile(nine, 50) / percentile(one, 50)
    printTable('Secrets upload (upload-secrets, 4 secrets + cluster.json + marker per machine into a tmpfs, sshd on loopback)', [
      {what: 'upload to 1 machine', samples: one},
      {what: `upload to 9 machines (--parallel ${DEFAULT_PARALLEL_UPLOADS}, the default)`, samples: nine, target: '< 2x one', note: `${ratio.toFixed(2)}x the one-machine p50 ${ratio < 2 ? '(met)' : '(missed)'}`},
      {what: 'CPU per machine: berth', samples: berthCpu.sort((a, b) => a - b), note: 'the provisioner\'s own cost'},
      {what: 'CPU per machine: sshd (on the node in a real cluster)', samples: sshdCpu.sort((a, b) => a - b), note: `here 9 sshds share ${availableParallelism()} cores with berth`},
    ])
  } finally {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGTERM')
      } catch {
        // already gone
      }
    }
    for (const secrets of mounts) await execa('umount', [secrets], {reject: false})
    await rm(dir, {recursive: true, force: true})
  }
}

await main()
