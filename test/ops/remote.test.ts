/**
 * The day-two plumbing over the real test sshd: logs from several machines merged, followed,
 * and a machine that cannot be reached or goes away named once while the rest go on; a
 * terminal's size, input and exit code; `berth ssh`'s command; ssh-config's stanzas. The
 * machines are all the test sshd on loopback (test/provision/support.ts loopbackCluster),
 * with berth's host keys: one machine's key is wrong, so it cannot be reached.
 */
import assert from 'node:assert/strict'
import {appendFile, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {createServer, connect as tcpConnect, type AddressInfo, type Server, type Socket} from 'node:net'
import path from 'node:path'
import {PassThrough} from 'node:stream'
import {after, before, describe, it} from 'node:test'

import {openerShells, shellOpener} from '../../src/cluster/remote.js'
import {loadClusterFile} from '../../src/config/load.js'
import type {Cluster, Machine} from '../../src/config/types.js'
import {UsageError} from '../../src/errors.js'
import {execInReplica, ReplicaNotRunningError} from '../../src/ops/exec.js'
import type {MachineShells} from '../../src/machine/shell.js'
import {type LogLine, streamLogs} from '../../src/ops/logs.js'
import {type ClusterView, replicasOf} from '../../src/ops/replicas.js'
import {done as ready, notYet, pollUntil} from '../../src/poll.js'
import {sshConfigOf, sshMachine} from '../../src/ops/ssh.js'
import {attach, type Stdio} from '../../src/ops/terminal.js'
import {sshTarget} from '../support/services.js'
import {loopbackCluster} from '../provision/support.js'

/** A relay to the test sshd whose connections can be cut at once: a machine going away. */
async function relay(): Promise<{port: number; cut: () => void; close: () => Promise<void>}> {
  const t = sshTarget()
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(t.port, t.host)
    sockets.add(client).add(upstream)
    client.pipe(upstream).pipe(client)
    for (const s of [client, upstream]) s.on('error', () => undefined)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const cut = () => {
    for (const s of sockets) s.destroy()
  }
  return {port: (server.address() as AddressInfo).port, cut, close: () => new Promise<void>((resolve) => { cut(); server.close(() => resolve()) })}
}

/** Streams standing in for this process's terminal: a size, and what was written. */
function fakeStdio(size = {rows: 40, cols: 120}) {
  const stdout = Object.assign(new PassThrough(), {rows: size.rows, columns: size.cols})
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (d: Buffer) => (out += d.toString()))
  stderr.on('data', (d: Buffer) => (err += d.toString()))
  const stdin = new PassThrough()
  return {stdio: {stdin, stdout, stderr} as unknown as Stdio, stdin, stdout, out: () => out, err: () => err}
}

async function until(what: string, done: () => boolean, ms = 10_000): Promise<void> {
  await pollUntil(async () => (done() ? ready(undefined) : notYet(false)), {timeoutMs: ms, intervalMs: 20, retryOn: () => false, onTimeout: () => new Error(`${what} not within ${ms} ms`)})
}

describe('day-two operations over real SSH', () => {
  let dir: string
  let cluster: Cluster
  /** `shells()` is one flow's machines: a connection per machine, closed by the test at its end. */
  let target: {cluster: Cluster; stateDir: string; identity: string; shells: () => MachineShells}
  let cutting: Awaited<ReturnType<typeof relay>>
  const view = (): ClusterView => ({services: new Map([['web', {roles: ['main', 'worker']}]]), agents: new Map(), source: 'etcd'})
  const journal = (name: string) => path.join(dir, `${name}.jsonl`)
  const entry = (atUs: number, message: string) => `${JSON.stringify({__REALTIME_TIMESTAMP: String(atUs), __CURSOR: `c${atUs}`, MESSAGE: message})}\n`

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-ops-'))
    const loop = await loopbackCluster(dir, ['main-1', 'main-2', 'main-3'], ['main-3'])
    cluster = (await loadClusterFile(loop.file)).cluster
    cutting = await relay()
    const t = sshTarget()
    const opener = await shellOpener(cluster, {identity: loop.identity, stateDir: loop.stateDir, timeoutMs: 5000})
    // main-2 goes through the relay, so a test can make it go away.
    const shells = () => openerShells(opener, (m: Machine) => ({host: t.host, port: m.name === 'main-2' ? cutting.port : t.port}))
    target = {cluster, stateDir: loop.stateDir, identity: loop.identity, shells}
  })
  after(async () => {
    await cutting?.close()
    await rm(dir, {recursive: true, force: true})
  })

  it('logs: every reachable replica merged by time, the last N; an unreachable machine named once', async () => {
    await writeFile(journal('web.main-1'), entry(10, 'one-a') + entry(30, 'one-b') + 'not json\n' + entry(50, 'one-c'))
    await writeFile(journal('web.main-2'), entry(20, 'two-a') + entry(40, 'two-b'))
    const lines: LogLine[] = []
    const unreachable: string[] = []
    const replicas = replicasOf(cluster, view(), 'web')
    const machines = target.shells()
    const {failed} = await streamLogs(replicas, machines, {tail: 4, command: (_q, r) => `cat ${journal(r.id)}`}, {line: (l) => lines.push(l), unreachable: (m, why) => unreachable.push(`${m}: ${why}`)}).finally(() => machines.close())
    assert.deepEqual(lines.map((l) => `${l.machine} ${l.replica} ${l.message}`), ['main-2 web.main-2 two-a', 'main-1 web.main-1 one-b', 'main-2 web.main-2 two-b', 'main-1 web.main-1 one-c'])
    assert.deepEqual(failed, ['main-3'])
    assert.equal(unreachable.length, 1)
    assert.match(unreachable[0]!, /^main-3: .*host key/i)
  })

  it('logs -f: lines written while following are printed; a machine that goes away is named once and the others keep coming', async () => {
    for (const m of ['main-1', 'main-2']) await writeFile(journal(`live.${m}`), '')
    const lines: LogLine[] = []
    const unreachable: string[] = []
    const replicas = replicasOf(cluster, view(), 'web').filter((r) => r.machine.name !== 'main-3')
    const command = (q: {follow?: unknown}, r: {machine: Machine}) => (q.follow ? `echo $$ > ${journal(`pid.${r.machine.name}`)}; exec tail -n +1 -F ${journal(`live.${r.machine.name}`)}` : 'true')
    const machines = target.shells()
    const done = streamLogs(replicas, machines, {follow: true, command}, {line: (l) => lines.push(l), unreachable: (m, why) => unreachable.push(`${m}: ${why}`)})
    await appendFile(journal('live.main-1'), entry(1, 'first'))
    await appendFile(journal('live.main-2'), entry(2, 'second'))
    await until('both lines', () => lines.length === 2).catch((e) => { throw new Error(`${e.message}: ${JSON.stringify(lines)} ${JSON.stringify(unreachable)}`) })
    cutting.cut()
    await until('main-2 named', () => unreachable.length === 1)
    await appendFile(journal('live.main-1'), entry(3, 'after the cut'))
    await until('main-1 goes on', () => lines.length === 3)
    assert.deepEqual(lines.map((l) => `${l.machine} ${l.message}`).sort(), ['main-1 after the cut', 'main-1 first', 'main-2 second'])
    assert.match(unreachable[0]!, /^main-2: /)
    assert.equal(unreachable.length, 1)
    // Ending main-1's command ends the follow, main-1 named as well.
    const other = target.shells()
    await other.on(cluster.machines[0]!).run(`kill $(cat ${journal('pid.main-1')})`)
    await other.close()
    assert.deepEqual((await done.finally(() => machines.close())).failed.sort(), ['main-1', 'main-2'])
  })

  it('a terminal: the size goes with the pty and its changes, input goes in, the exit code comes back', async () => {
    const io = fakeStdio()
    const machines = target.shells()
    const code = attach(machines.on(cluster.machines[0]!), 'stty size; read x; stty size; echo "got $x"; exit 3', {tty: true, stdio: io.stdio})
    await until('the first size', () => io.out().includes('40 120'))
    Object.assign(io.stdout, {rows: 30, columns: 100})
    io.stdout.emit('resize')
    io.stdin.write('hello\r')
    assert.equal(await code, 3)
    assert.match(io.out(), /30 100/)
    assert.match(io.out(), /got hello/)
    await machines.close()
  })

  it('without a terminal: stdin until its end, stdout and stderr apart, the exit code', async () => {
    const io = fakeStdio()
    const machines = target.shells()
    const code = attach(machines.on(cluster.machines[0]!), 'cat; echo oops >&2; exit 5', {tty: false, stdio: io.stdio})
    io.stdin.end('abc\n')
    assert.equal(await code, 5)
    assert.equal(io.out(), 'abc\n')
    assert.equal(io.err(), 'oops\n')
    await machines.close()
  })

  it('berth ssh: the words joined as OpenSSH joins them, the exit code passed on; an unknown machine is exit 2', async () => {
    const io = fakeStdio()
    const flow = {...target, machines: target.shells()}
    try {
      assert.equal(await sshMachine(flow, 'main-1', ['echo', 'a', 'b;', 'exit', '4'], {stdio: io.stdio}), 4)
      assert.equal(io.out(), 'a b\n')
      await assert.rejects(sshMachine(flow, 'main-9', ['true'], {stdio: io.stdio}), (e: unknown) => e instanceof UsageError && /main-9.*use one of: main-1, main-2, main-3/.test(e.message))
      await assert.rejects(sshMachine(flow, 'main-3', ['true'], {stdio: io.stdio}), /host key/i)
    } finally {
      await flow.machines.close()
    }
  })

  it('exec into a replica that is not running says where it last ran', async () => {
    const io = fakeStdio()
    const replica = {...replicasOf(cluster, view(), 'web')[0]!, container: `berth-ops-absent-${process.pid}`, unit: `berth-ops-absent-${process.pid}.service`}
    const machines = target.shells()
    await assert.rejects(execInReplica(machines, replica, ['true'], {stdio: io.stdio}), (e: unknown) => e instanceof ReplicaNotRunningError && /^web\.main-1 is not running: it last ran on main-1, where berth-ops-absent-\d+\.service is /.test(e.message)).finally(() => machines.close())
  })

  it('ssh-config: a stanza per machine with berth\'s key and known_hosts; none written yet is exit 2', async () => {
    await assert.rejects(sshConfigOf(target, 'loop-'), (e: unknown) => e instanceof UsageError && /known_hosts/.test(e.message))
    await writeFile(path.join(target.stateDir, 'known_hosts'), '')
    const text = await sshConfigOf(target, 'loop-')
    assert.equal(text.split('\n').slice(0, 8).join('\n'), [
      'Host loop-main-1', '  HostName 192.0.2.11', `  User ${sshTarget().username}`, `  IdentityFile ${target.identity}`,
      '  IdentitiesOnly yes', `  UserKnownHostsFile ${path.join(target.stateDir, 'known_hosts')}`, '  StrictHostKeyChecking yes', '',
    ].join('\n'))
    assert.equal(text.match(/^Host /gm)?.length, 3)
  })
})
