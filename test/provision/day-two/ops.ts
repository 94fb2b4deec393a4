import assert from 'node:assert/strict'
import {copyFile, mkdir, readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {execa} from 'execa'

import {packageRoot} from '../../../src/paths.js'
import {done as ready, notYet, pollUntil} from '../../../src/poll.js'
import {generateEd25519} from '../../../src/ssh/keygen.js'
import type {DayTwoCluster, DayTwoPart} from './context.js'

/**
 * Issue 14, items 1-3 on the provisioned cluster: `service logs` merged from every replica
 * of web and followed while a replica writes, a shell in a replica through a real terminal
 * (tmux), a command's exit code, `berth ssh` and `cluster ssh-config` from cluster.yaml, and
 * unknown names. Nothing is deployed: web is read and entered, never changed.
 */

const cli = path.join(packageRoot, 'bin', 'run.js')
const MACHINES = ['main-1', 'main-2', 'main-3']

/** Writes a line to a web replica's output, as the service itself would (its PID 1's stdout). */
async function writeLine(cluster: DayTwoCluster, machine: string, text: string): Promise<void> {
  await execa('docker', ['exec', cluster.container(machine), 'docker', 'exec', 'berth-web', 'sh', '-c', `echo '${text}' >/proc/1/fd/1`])
}

async function until(what: string, done: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  await pollUntil(async () => (await done() ? ready(undefined) : notYet(false)), {timeoutMs: ms, intervalMs: 100, retryOn: () => false, onTimeout: () => new Error(`${what} not within ${ms} ms`)})
}

interface JsonLine {time: string; machine: string; replica: string; service: string; message: string}
const jsonLines = (stdout: string): JsonLine[] => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as JsonLine)

/** A tmux server of its own (-L), so the test never touches another's; killed by its socket name. */
function tmux(cluster: DayTwoCluster, socket: string) {
  const run = (...args: string[]) => execa('tmux', ['-L', socket, ...args], {env: cluster.env})
  return {
    run,
    screen: async () => (await run('capture-pane', '-p', '-t', 'ops')).stdout,
    keys: (text: string) => run('send-keys', '-t', 'ops', text, 'Enter'),
    kill: () => run('kill-server').catch(() => undefined),
  }
}

export const opsPart: DayTwoPart = {
  name: 'ops',
  checks: [
    {
      title: 'service logs merges the lines of every replica of web by time, prefixed by machine and replica',
      async run(cluster) {
        const tag = `merged-${Date.now()}`
        for (const m of MACHINES) await writeLine(cluster, m, `${tag} ${m}`)
        await until('every marker in the journal', async () => {
          const r = await cluster.berth(['service', 'logs', 'web', '--local-cluster', cluster.name, '--json', '--tail', '200'])
          return MACHINES.every((m) => r.stdout.includes(`${tag} ${m}`))
        }, 15_000)
        const result = await cluster.berth(['service', 'logs', 'web', '--local-cluster', cluster.name, '--json', '--tail', '200'])
        assert.equal(result.exitCode, 0, result.stderr)
        const lines = jsonLines(result.stdout)
        assert.ok(lines.length <= 200)
        assert.deepEqual([...new Set(lines.map((l) => l.machine))].sort(), MACHINES)
        const times = lines.map((l) => Date.parse(l.time))
        assert.deepEqual(times, [...times].sort((a, b) => a - b), 'merged by time')
        for (const m of MACHINES) {
          const marker = lines.find((l) => l.message === `${tag} ${m}`)
          assert.deepEqual(marker && [marker.machine, marker.replica, marker.service], [m, `web.${m}`, 'web'])
        }
        const text = await cluster.berth(['service', 'logs', 'web', '--local-cluster', cluster.name, '--machine', 'main-2', '--tail', '5'])
        assert.equal(text.exitCode, 0, text.stderr)
        const rows = text.stdout.trim().split('\n')
        assert.equal(rows.length, 5)
        for (const row of rows) assert.match(row, /^main-2 web\.main-2 \| /)
      },
    },
    {
      title: 'service logs -f prints a line written in a replica while following',
      async run(cluster) {
        const follower = execa(process.execPath, [cli, 'service', 'logs', 'web', '-f', '--tail', '0', '--json', '--local-cluster', cluster.name], {env: cluster.env, reject: false})
        let out = ''
        follower.stdout?.on('data', (d: Buffer) => (out += d.toString()))
        try {
          // Following all three once a line written on each after the start comes through: probes until every machine's has.
          let probed = 0
          await until('the follower reading all three machines', async () => {
            const missing = MACHINES.filter((m) => !out.includes(`probe-${m}-`))
            if (missing.length > 0 && Date.now() - probed > 1000) {
              probed = Date.now()
              await Promise.all(missing.map((m) => writeLine(cluster, m, `probe-${m}-${probed}`)))
            }
            return missing.length === 0
          }, 30_000)
          const tag = `followed-${Date.now()}`
          await writeLine(cluster, 'main-2', tag)
          await until('the followed line', () => out.includes(tag), 10_000)
          const line = jsonLines(out).find((l) => l.message === tag)
          assert.deepEqual(line && [line.machine, line.replica], ['main-2', 'web.main-2'])
          assert.equal(follower.exitCode, null, 'still following')
        } finally {
          follower.kill('SIGTERM')
          await follower
        }
      },
    },
    {
      title: 'service exec opens a shell in a replica through a real terminal (tmux), with its size and changes, and its exit code',
      async run(cluster) {
        const t = tmux(cluster, `berth-ops-${process.pid}`)
        const status = path.join(cluster.dir, 'ops-exec-status')
        try {
          await t.run('new-session', '-d', '-s', 'ops', '-x', '120', '-y', '40', `${process.execPath} ${cli} service exec web --local-cluster ${cluster.name} --machine main-1; echo "exit=$?" > ${status}; sleep 60`)
          // Typed only once the shell prompts: keys sent before berth has the terminal in raw mode would be the local tty's.
          await until('the prompt', async () => /[#$] *$/m.test(await t.screen()), 30_000)
          await t.keys('echo "in=$(cat /etc/berth-machine) $((6*7))"; stty size')
          await until('the shell answers', async () => /in=main-1 42\s+40 120/.test(await t.screen()), 30_000)
          await t.run('resize-window', '-t', 'ops', '-x', '100', '-y', '30')
          await t.keys('stty size')
          await until('the new size', async () => /\n30 100\s*\n/.test(await t.screen()), 10_000)
          await t.keys('exit 3')
          await until('the shell ended', async () => (await readFile(status, 'utf8').catch(() => '')).includes('exit='), 10_000)
          assert.equal((await readFile(status, 'utf8')).trim(), 'exit=3')
        } finally {
          await t.kill()
        }
      },
    },
    {
      title: 'service exec runs a command in the chosen replica and passes its exit code on',
      async run(cluster) {
        const result = await cluster.berth(['service', 'exec', 'web', '--local-cluster', cluster.name, '--replica', 'web.main-2', '--', 'sh', '-c', 'cat /etc/berth-machine; echo err >&2; exit 7'])
        assert.equal(result.exitCode, 7, result.stderr)
        assert.equal(result.stdout.trim(), 'main-2')
        assert.equal(result.stderr.trim(), 'err')
        const ok = await cluster.berth(['service', 'exec', 'web', '--local-cluster', cluster.name, '--machine', 'main-3', '--', 'cat', '/etc/berth-machine'])
        assert.deepEqual([ok.exitCode, ok.stdout.trim()], [0, 'main-3'])
      },
    },
    {
      title: 'berth ssh and cluster ssh-config from the cluster.yaml, with the host keys berth generated',
      async run(cluster) {
        const local = path.join(cluster.dir, 'local-clusters', cluster.name)
        const file = path.join(local, 'cluster.yaml')
        // A provisioner's own state dir for this cluster.yaml: the host keys and known_hosts berth made for it.
        const root = path.join(cluster.dir, 'ops-provisioner')
        const stateDir = path.join(root, 'clusters', cluster.name)
        await mkdir(stateDir, {recursive: true, mode: 0o700})
        for (const f of ['hostkeys.json', 'known_hosts']) await copyFile(path.join(local, 'state', f), path.join(stateDir, f))
        const flags = ['-c', file, '--state-dir', root]
        const ssh = await cluster.berth(['ssh', 'main-3', ...flags, '--', 'cat', '/etc/hostname;', 'exit', '4'])
        assert.deepEqual([ssh.exitCode, ssh.stdout.trim()], [4, 'main-3'], ssh.stderr)
        const config = await cluster.berth(['cluster', 'ssh-config', ...flags, '--host-prefix', 'ops-'])
        assert.equal(config.exitCode, 0, config.stderr)
        assert.match(config.stdout, new RegExp(`UserKnownHostsFile ${stateDir}/known_hosts`))
        const configFile = path.join(cluster.dir, 'ops-ssh-config')
        await writeFile(configFile, config.stdout)
        const openssh = await execa('ssh', ['-F', configFile, '-o', 'BatchMode=yes', 'ops-main-2', 'cat /etc/hostname'], {reject: false})
        assert.deepEqual([openssh.exitCode, openssh.stdout.trim()], [0, 'main-2'], openssh.stderr)
        // A host key berth did not generate is refused.
        const keys = JSON.parse(await readFile(path.join(stateDir, 'hostkeys.json'), 'utf8')) as Record<string, {public: string}>
        keys['main-3'] = {...keys['main-3']!, public: generateEd25519().public}
        await writeFile(path.join(stateDir, 'hostkeys.json'), JSON.stringify(keys))
        const refused = await cluster.berth(['ssh', 'main-3', ...flags, '--', 'true'])
        assert.equal(refused.exitCode, 1)
        assert.match(refused.stderr, /host key/i)
      },
    },
    {
      title: 'unknown service, replica or machine: exit 2 listing the names that exist',
      async run(cluster) {
        const on = ['--local-cluster', cluster.name]
        const cases: [string[], RegExp][] = [
          [['service', 'logs', 'nope', ...on], /nope: no service of that name .*use one of: .*web/],
          [['service', 'logs', 'web', '--machine', 'main-9', ...on], /main-9.*use one of: main-1, main-2, main-3/],
          [['service', 'exec', 'web', '--replica', 'web.9', ...on, '--', 'true'], /web\.9 is not a replica of web.*use one of: web\.main-1, web\.main-2, web\.main-3/],
          [['ssh', 'main-9', ...on, '--', 'true'], /main-9.*use one of: main-1, main-2, main-3/],
          [['local-cluster', 'ssh', 'main-9', '--name', cluster.name, '--', 'true'], /main-9.*use one of: main-1, main-2, main-3/],
        ]
        for (const [args, message] of cases) {
          const result = await cluster.berth(args)
          assert.equal(result.exitCode, 2, `${args.join(' ')}: ${result.stderr}`)
          assert.match(result.stderr, message)
        }
      },
    },
  ],
}
