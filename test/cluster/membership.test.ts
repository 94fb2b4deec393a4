import assert from 'node:assert/strict'
import {type ChildProcess, spawn} from 'node:child_process'
import {readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {after, describe, it} from 'node:test'
import {parse} from 'yaml'

import {runSteps} from '../../src/cli/progress.js'
import {removeMachineEndpoints, removeMachineSteps} from '../../src/cluster/remove-machine.js'
import {loadClusterFile} from '../../src/config/load.js'
import {EtcdStore} from '../../src/agent/store/store-etcd.js'
import {EtcdCluster, sharedEtcd} from '../../src/etcd/client.js'
import {stopServicesCommand} from '../../src/cluster/installed-commands.js'
import {machineShells} from '../../src/machine/shell.js'
import {done, notYet, pollUntil} from '../../src/poll.js'
import {berth, scratch} from '../support/cli.js'
import {fixture} from '../support/fixture.js'

/**
 * Membership changes against real etcd members, one process per "machine" on its own
 * loopback address (127.X.Y.Z, unique per run), each started with exactly the etcd
 * settings its generated cloud-init first-boot file carries.
 */
const net = `127.${10 + Math.floor(Math.random() * 200)}.${Math.floor(Math.random() * 250)}`
const ip = (n: number) => `${net}.${n}`
const processes = new Map<string, ChildProcess>()
after(() => processes.forEach((p) => p.kill('SIGKILL')))

/** The ETCD_* settings of /etc/default/etcd in a cloud-init first-boot file. */
async function etcdEnv(file: string): Promise<Record<string, string>> {
  const doc = parse(await readFile(file, 'utf8')) as {write_files: {path: string; content: string}[]}
  const content = doc.write_files.find((f) => f.path === '/etc/default/etcd')?.content ?? ''
  return Object.fromEntries([...content.matchAll(/^(ETCD_\w+)="(.*)"$/gm)].map((m) => [m[1]!, m[2]!]))
}

async function startMember(dir: string, name: string): Promise<void> {
  const env = await etcdEnv(path.join(dir, 'out', `${name}.yaml`))
  // On a node etcd also listens on 127.0.0.1:2379; here the members share one loopback.
  const local = {ETCD_DATA_DIR: path.join(dir, `data-${name}`), ETCD_LISTEN_CLIENT_URLS: env.ETCD_ADVERTISE_CLIENT_URLS}
  const child = spawn('etcd', [], {env: {...env, ...local, PATH: process.env.PATH}, stdio: 'ignore'})
  processes.set(name, child)
}

function stopMember(name: string): void {
  processes.get(name)?.kill('SIGKILL')
  processes.delete(name)
}

async function voters(endpoint: string): Promise<{name: string; learner: boolean; healthy: boolean}[]> {
  const etcd = await EtcdCluster.connect([endpoint])
  try {
    return (await etcd.members()).map((m) => ({name: m.name, learner: m.isLearner, healthy: m.healthy})).sort((a, b) => a.name.localeCompare(b.name))
  } finally {
    etcd.close()
  }
}

/** Polls `fn` until `ok` holds for its value (a failed call counts as not yet); fails with the last value after `ms`. */
async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  return pollUntil(async () => {
    const value = await fn().catch(() => undefined)
    return value !== undefined && ok(value) ? done(value) : notYet(value)
  }, {timeoutMs: ms, intervalMs: 200, retryOn: () => false, onTimeout: (last) => new Error(`etcd members not as expected within ${ms / 1000} s: ${JSON.stringify(last.seen)}`)})
}

describe('etcd membership on real members', {timeout: 120_000}, () => {
  it('bootstraps 3, adds a 4th as learner then voter, refuses a quorum-breaking removal, removes safely', async () => {
    const dir = await scratch()
    const file = path.join(dir, 'cluster.yaml')
    const key = fixture('provisioner.pub')
    await writeFile(file, `# loopback cluster\nname: loop\nregistry: {url: "${ip(2)}:5000"}\nssh: {authorizedKeyFiles: ["${key}"]}\nmachines:\n${[1, 2, 3].map((n) => `  - {name: main-${n}, ip: ${ip(10 + n)}, role: main}\n`).join('')}`)
    const env = {BERTH_STATE_DIR: path.join(dir, 'state')}
    const out = path.join(dir, 'out')
    const generated = await berth(['cluster', 'new-cloud-config', '-c', file, '-f', 'cloud-init', '-o', out], {env})
    assert.equal(generated.exitCode, 0, generated.stderr)
    for (const n of [1, 2, 3]) await startMember(dir, `main-${n}`)
    const endpoint = `http://${ip(11)}:2379`
    const three = await until(() => voters(endpoint), (v) => v.length === 3 && v.every((m) => m.healthy))
    assert.deepEqual(three.map((m) => [m.name, m.learner, m.healthy]), [['main-1', false, true], ['main-2', false, true], ['main-3', false, true]])

    // Add: a learner first, then the machine boots with its file and is promoted.
    const plan = await berth(['cluster', 'add-machine', 'main-1', ip(14), '-c', file, '-f', 'cloud-init', '-o', out, '--dry-run'], {env})
    assert.equal(plan.exitCode, 0, plan.stderr)
    // Each step says what it would do, read from the live members: the learner's peer URL, the cluster it joins, the files.
    const peer = (n: number) => `http://${ip(n)}:2380`
    const planned = plan.stdout.split('\n')
    // The voters come in etcd's order (by member id), as the written file will have them; the new member last.
    const initial = / initial cluster (\S+)\) /.exec(planned[2] ?? '')?.[1] ?? ''
    assert.deepEqual([...initial.split(',').slice(0, 3)].sort(), [11, 12, 13].map((n) => `main-${n - 10}=${peer(n)}`), planned[2])
    assert.deepEqual(planned.slice(0, 4), [
      `1. Check etcd's members and health through main-1: would go on only if etcd keeps its quorum with a learner at ${peer(14)} (through http://${ip(11)}:2379, http://${ip(12)}:2379, http://${ip(13)}:2379): now 3 of 3 healthy`,
      `2. Add main-4 (${peer(14)}) as an etcd learner: would add a learner with peer URL ${peer(14)}`,
      `3. Write main-4's first-boot file (cloud-init, joining the running cluster): would write ${path.join(out, 'main-4.yaml')} (main-4 at ${ip(14)}, main; etcd state existing, initial cluster ${initial}) and its host key into ${path.join(out, 'known_hosts')}`,
      `4. Record main-4 in cluster.yaml: would add {name: main-4, ip: ${ip(14)}, role: main} to ${file}`,
    ])
    assert.equal(initial.split(',').at(-1), `main-4=${peer(14)}`)
    assert.equal((await voters(endpoint)).length, 3, 'the dry run added no member')
    const added = await berth(['cluster', 'add-machine', 'main-1', ip(14), '-c', file, '-f', 'cloud-init', '-o', out], {env})
    assert.equal(added.exitCode, 0, added.stderr)
    assert.deepEqual((await voters(endpoint)).map((m) => [m.name, m.learner]), [['', true], ['main-1', false], ['main-2', false], ['main-3', false]])
    assert.match(await readFile(file, 'utf8'), /^# loopback cluster\n/, 'cluster.yaml keeps its comments')
    assert.match(await readFile(file, 'utf8'), new RegExp(`name: main-4, ip: ${ip(14).replace(/\./g, '\\.')}, role: main`))
    const joinEnv = await etcdEnv(path.join(out, 'main-4.yaml'))
    assert.equal(joinEnv.ETCD_INITIAL_CLUSTER_STATE, 'existing')
    await startMember(dir, 'main-4')
    const promoted = await berth(['cluster', 'add-machine', 'main-1', ip(14), '-c', file, '-f', 'cloud-init', '-o', out, '--wait', '--timeout', '60', '--json'], {env})
    assert.equal(promoted.exitCode, 0, promoted.stderr)
    assert.equal(JSON.parse(promoted.stdout).promoted, true)
    const four = await until(() => voters(endpoint), (v) => v.length === 4 && v.every((m) => m.healthy && !m.learner))
    assert.deepEqual(four.map((m) => [m.name, m.learner, m.healthy]), [['main-1', false, true], ['main-2', false, true], ['main-3', false, true], ['main-4', false, true]])

    // The dry run names the member it would remove, read from the live cluster, and changes nothing.
    const member4 = await (async () => {
      const etcd = await EtcdCluster.connect([endpoint])
      try {
        return (await etcd.members()).find((m) => m.name === 'main-4')!
      } finally {
        etcd.close()
      }
    })()
    const dry = await berth(['cluster', 'remove-machine', 'main-1', 'main-4', '-c', file, '--dry-run', '--json'], {env})
    assert.equal(dry.exitCode, 0, dry.stderr)
    const lines = (JSON.parse(dry.stdout) as {plan: string[]}).plan
    assert.ok(lines.includes(`Remove main-4 from etcd's members: would remove member main-4 (id ${member4.id}, ${member4.peerUrls[0]})`), lines.join('\n'))
    assert.ok(lines.includes(`Remove main-4 from cluster.yaml: would write ${file} without main-4`), lines.join('\n'))
    assert.ok(lines.includes('Drain main-4 of replicated work (its replicas move to other machines first): would mark main-4 drained (reason: removal) and move nothing: no replicated services on it'), lines.join('\n'))
    assert.ok(lines.includes(`Stop main-4's etcd for good: would run \`systemctl disable --now etcd.service\` on main-4 (${ip(14)})`), lines.join('\n'))
    assert.equal((await voters(endpoint)).length, 4, 'the dry run removed nothing')
    assert.match(await readFile(file, 'utf8'), /main-4/)

    // Remove main-4 safely; the "machine" runner stops its etcd as SSH would.
    const {cluster} = await loadClusterFile(file)
    const warnings: string[] = []
    const stopped: string[] = []
    const etcd = sharedEtcd(removeMachineEndpoints(cluster, 'main-1', 'main-4'))
    const removal = removeMachineSteps({
      cluster, file, existing: 'main-1', old: 'main-4', force: false, etcdPrefix: '/berth', warn: (m) => warnings.push(m), etcd,
      machines: machineShells(async (machine) => ({
        exec: async (command) => {
          stopped.push(`${machine.name}: ${command}`)
          if (command.includes('etcd.service')) stopMember(machine.name)
          return {code: 0, stdout: '', stderr: ''}
        },
        close: async () => {},
      })),
    })
    try {
      await runSteps(removal.steps, 'silent')
    } finally {
      etcd.close()
    }
    assert.deepEqual(stopped, [`main-4: ${stopServicesCommand('berth-')}`, 'main-4: systemctl disable --now etcd.service'])
    assert.deepEqual(warnings, [])
    assert.deepEqual((await voters(endpoint)).map((m) => m.name), ['main-1', 'main-2', 'main-3'])
    assert.doesNotMatch(await readFile(file, 'utf8'), /main-4/)
    const trail = async () => {
      const store = new EtcdStore({endpoints: [endpoint]})
      try {
        return (await store.auditEntries()).map((e) => [e.action, e.target, e.from.via, e.detail?.member ?? '-'])
      } finally {
        await store.close()
      }
    }
    // remove-machine drains the machine first, and says so in the trail.
    const changes = [['machine.add', 'main-4', 'cli', 'learner'], ['machine.add', 'main-4', 'cli', 'voter'], ['machine.drain', 'main-4', 'cli', '-'], ['machine.remove', 'main-4', 'cli', '-']]
    assert.deepEqual(await trail(), changes, 'every change is in the audit trail, the dry run is not')

    // With main-3 down, removing main-2 would leave 1 healthy of 2: refused, with the numbers.
    stopMember('main-3')
    // If main-3 led, main-2 answers "no leader" until the other two elect one: wait for that.
    await until(() => voters(endpoint), (v) => v.filter((m) => m.healthy).map((m) => m.name).join(' ') === 'main-1 main-2')
    const refused = await berth(['cluster', 'remove-machine', 'main-1', 'main-2', '-c', file], {env})
    assert.equal(refused.exitCode, 2, refused.stderr)
    assert.match(refused.stderr, /refusing to remove main-2: removing main-2 would leave 1 healthy of 2 etcd members; quorum needs 2 \(down: main-3: no answer/)
    // In words, not gRPC's: "no answer: etcd at 127.x.y.13:2379 refused the connection".
    assert.match(refused.stderr, new RegExp(`main-3: no answer: etcd at ${ip(13).replace(/\./g, '\\.')}:2379 refused the connection\\)`))
    assert.doesNotMatch(refused.stderr, /UNAVAILABLE|ECONNREFUSED|Resolution note/)
    assert.deepEqual((await voters(endpoint)).map((m) => m.name), ['main-1', 'main-2', 'main-3'], 'nothing changed')
    assert.match(await readFile(file, 'utf8'), /main-2/)
    assert.deepEqual(await trail(), changes, 'a refused removal leaves no entry')
  })
})
