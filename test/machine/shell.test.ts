/**
 * The machine seam over its two real ways in: the test sshd of scripts/services.sh and
 * `docker exec` into a throwaway container this file creates and removes by id. A failed
 * command's error names the host, the command, the exit code and the tail of stderr; a
 * flow reuses one SSH connection per machine and closes it once. Files are written
 * atomically, the last after the others, only into memory when asked; a streaming
 * command takes stdin, streams stdout and stderr (or a terminal) and reports its exit.
 * Every stream check waits a bounded time and ends its command.
 */
import assert from 'node:assert/strict'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {execa} from 'execa'

import {sshShells} from '../../src/cluster/remote.js'
import type {Cluster, Machine} from '../../src/config/types.js'
import {BerthError, RemoteCommandError, UsageError} from '../../src/errors.js'
import {DockerProvider} from '../../src/local-cluster/docker-provider.js'
import {nodeChannel} from '../../src/local-cluster/node-shell.js'
import {machineShells, type MachineShells, type RemoteProcess, STDERR_TAIL_LINES} from '../../src/machine/shell.js'
import {done, done as ready, notYet, pollUntil} from '../../src/poll.js'
import {busyboxImage} from '../agent/node-support.js'
import {openTestConnection} from '../ssh/fixture.js'
import {sshTarget} from '../support/services.js'

const machine: Machine = {name: 'main-1', ip: '127.0.0.1', role: 'main', labels: {}} as Machine
/** Prints 20 numbered lines on stderr, then exits 3. */
const failing = 'for i in $(seq 1 20); do echo "line $i" >&2; done; exit 3'

/** Checks what every MachineShells must do, whatever reaches the machine. */
async function checkSeam(shells: MachineShells): Promise<void> {
  const shell = shells.on(machine)
  assert.equal(shell.host, 'main-1 (127.0.0.1)')
  assert.deepEqual(await shell.run('echo out; echo err >&2'), {stdout: 'out\n', stderr: 'err\n'})
  // A secret goes on stdin; the command that reads it names no secret.
  assert.equal((await shell.run('cat', {stdin: 's3cret\n'})).stdout, 's3cret\n')
  assert.deepEqual(await shell.exec('echo no >&2; exit 4'), {code: 4, stdout: '', stderr: 'no\n'})

  const error = await shell.run(failing).then(() => undefined, (e: unknown) => e)
  assert.ok(error instanceof RemoteCommandError, String(error))
  assert.equal(error.host, 'main-1 (127.0.0.1)')
  assert.equal(error.command, failing)
  assert.equal(error.code, 3)
  const tail = Array.from({length: STDERR_TAIL_LINES}, (_, i) => `line ${20 - STDERR_TAIL_LINES + i + 1}`).join('\n')
  assert.equal(error.stderr, tail)
  assert.equal(error.message, `main-1 (127.0.0.1): \`${failing}\` exited with 3: ${tail}`)
  assert.equal(error.exitCode, 1, 'the CLI exits 1 for a failed remote command')

  const named = await shell.run('exit 5', {as: 'stop the agent'}).then(() => undefined, (e: unknown) => e)
  assert.ok(named instanceof RemoteCommandError)
  assert.equal(named.command, 'stop the agent')
  assert.equal(named.code, 5)
  assert.equal(named.message, 'main-1 (127.0.0.1): `stop the agent` exited with 5')
}

/** `promise`, or a failure naming `what` after `ms`: no check here waits for ever. */
async function within<T>(what: string, promise: Promise<T>, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}

/** Everything a started command prints, read as it comes (reading both is what lets it end). */
function collect(remote: RemoteProcess): {out: () => string; err: () => string} {
  let out = ''
  let err = ''
  remote.stdout.on('data', (d: Buffer) => (out += d.toString()))
  remote.stderr.on('data', (d: Buffer) => (err += d.toString()))
  return {out: () => out, err: () => err}
}

async function until(what: string, done: () => boolean, ms = 10_000): Promise<void> {
  await pollUntil(async () => (done() ? ready(undefined) : notYet(false)), {timeoutMs: ms, intervalMs: 20, retryOn: () => false, onTimeout: () => new Error(`${what} not within ${ms} ms`)})
}

/**
 * What writeFiles and start must do on every machine: `disk` is a folder on disk, `ram` a
 * tmpfs mount, both on the machine, both checked through the shell itself.
 */
async function checkFilesAndStreams(shells: MachineShells, dirs: {disk: string; ram: string}): Promise<void> {
  const shell = shells.on(machine)
  const folder = `${dirs.disk}/a/b`
  const files = [
    {path: `${folder}/secret`, data: 's3cret\n'},
    {path: `${folder}/cluster.json`, data: Buffer.from('{"x":1}\n'), mode: 0o644},
    {path: `${folder}/empty`, data: ''},
    {path: `${folder}/uploaded`, data: 'marker\n'},
  ]
  const events: string[] = []
  await shell.writeFiles(files, {onFile: (p, state) => events.push(`${state} ${path.posix.basename(p)}`)})
  // The marker starts only after every other file is in place.
  const markerStart = events.indexOf('start uploaded')
  assert.equal(markerStart, 6, events.join(', '))
  assert.deepEqual(events.slice(6), ['start uploaded', 'done uploaded'])
  assert.deepEqual(events.slice(0, 6).filter((e) => e.startsWith('done')).sort(), ['done cluster.json', 'done empty', 'done secret'])
  const listing = (await shell.run(`cd ${folder} && for f in $(ls -A); do echo "$f $(stat -c %a "$f") $(cat "$f")"; done; stat -c %a ${folder}`)).stdout
  // No temp file left beside them; the folders made for them are 0700.
  assert.equal(listing, 'cluster.json 644 {"x":1}\nempty 600 \nsecret 600 s3cret\nuploaded 600 marker\n700\n')

  // Temps an interrupted write left beside a file go with its next write once they are old; a fresh one stays.
  await shell.run(`touch -t 202001010000 ${folder}/.secret.berth-tmp-old; touch ${folder}/.secret.berth-tmp-new`)
  await shell.writeFiles([{path: `${folder}/secret`, data: 's3cret\n'}])
  assert.equal((await shell.run(`ls -A ${folder} | grep berth-tmp; rm ${folder}/.secret.berth-tmp-new`)).stdout, '.secret.berth-tmp-new\n')

  // A second write replaces the file whole, the mode as asked again.
  await shell.writeFiles([{path: `${folder}/cluster.json`, data: '{"x":2}\n', mode: 0o640}])
  assert.equal((await shell.run(`stat -c %a ${folder}/cluster.json; cat ${folder}/cluster.json; ls -A ${folder} | wc -l`)).stdout.replace(/ +/g, ''), '640\n{"x":2}\n4\n')

  // A failure leaves the last file untouched: a folder that cannot be made (a file is in the way).
  await shell.run(`echo old > ${dirs.disk}/marker`)
  const broken = shell.writeFiles([{path: `${folder}/secret/inside`, data: 'no'}, {path: `${dirs.disk}/marker`, data: 'new\n'}])
  await assert.rejects(broken, (e: unknown) => e instanceof BerthError && e.message.includes(`${folder}/secret/inside`) && !e.message.includes('no\n'))
  assert.equal((await shell.run(`cat ${dirs.disk}/marker`)).stdout, 'old\n')
  await assert.rejects(shell.writeFiles([{path: 'relative/file', data: 'x'}]), (e: unknown) => e instanceof UsageError && /absolute file path/.test(e.message))

  // inMemory: a tmpfs takes them; a folder on disk gets nothing, and the error says why.
  await shell.writeFiles([{path: `${dirs.ram}/api-token`, data: 'in memory\n'}], {inMemory: dirs.ram})
  assert.equal((await shell.run(`cat ${dirs.ram}/api-token`)).stdout, 'in memory\n')
  await assert.rejects(shell.writeFiles([{path: `${dirs.disk}/api-token`, data: 'on disk\n'}], {inMemory: dirs.disk}), (e: unknown) =>
    e instanceof BerthError && e.message.includes(`${dirs.disk} is not a mount, not tmpfs; berth writes node secrets only to memory`))
  assert.equal((await shell.exec(`test -e ${dirs.disk}/api-token`)).code, 1, 'nothing written on disk')

  // start without a terminal: stdin until its end, stdout and stderr apart, the exit code.
  const piped = await shell.start('cat; echo oops >&2; exit 5')
  const pipedOut = collect(piped)
  piped.stdin.end('abc\n')
  assert.deepEqual(await within('cat exits', piped.exit), {code: 5})
  assert.equal(pipedOut.out(), 'abc\n')
  assert.equal(pipedOut.err(), 'oops\n')

  // start with a pty: the size goes with the request and its changes, input goes in.
  const term = await shell.start('stty size; read x; stty size; echo "got $x"; exit 3', {pty: {rows: 40, cols: 120}})
  const termOut = collect(term)
  try {
    await until('the first size', () => termOut.out().includes('40 120'))
    term.resize({rows: 30, cols: 100})
    // The resize travels apart from stdin: give it a moment to land before `read` returns.
    await new Promise((resolve) => setTimeout(resolve, 200))
    term.stdin.write('hello\r')
    assert.deepEqual(await within('the terminal command exits', term.exit), {code: 3})
    assert.match(termOut.out(), /30 100/)
    assert.match(termOut.out(), /got hello/)
  } finally {
    term.stdin.end()
  }

  // start with no command: the login shell, reading its commands from stdin.
  const login = await shell.start(undefined)
  const loginOut = collect(login)
  login.stdin.end('echo "from the shell"; exit 7\n')
  assert.equal((await within('the login shell exits', login.exit)).code, 7)
  assert.match(loginOut.out(), /from the shell/)

  // A command still streaming when the flow closes its shells is ended with them.
  const follow = await shell.start('echo started; exec tail -f /dev/null')
  const followOut = collect(follow)
  await until('the follow started', () => followOut.out().includes('started'))
  await within('the shells close', shells.close())
  await within('the follow ends', follow.exit.then(() => 'ended', () => 'cut off'))
}

describe('machine shells over SSH (real sshd)', () => {
  it('run resolves on exit 0, throws RemoteCommandError with host, command, code and stderr tail otherwise', async () => {
    const shells = machineShells(async () => {
      const connection = await openTestConnection()
      return {exec: (command, o) => connection.exec(command, o), close: () => connection.close()}
    })
    try {
      await checkSeam(shells)
    } finally {
      await shells.close()
    }
  })

  it('opens one connection per machine for the whole flow, lazily, and closes it once', async () => {
    let opened = 0
    let closed = 0
    const shells = machineShells(async () => {
      opened++
      const connection = await openTestConnection()
      return {
        exec: (command, o) => connection.exec(command, o),
        get lost() {
          return connection.closedReason !== undefined
        },
        close: async () => {
          closed++
          await connection.close()
        },
      }
    })
    const shell = shells.on(machine)
    assert.equal(opened, 0, 'nothing is opened before the first command')
    await shell.connect()
    assert.equal(opened, 1, 'connect opens it before any command')
    // sshd says which client port each command came from: one port is one TCP connection.
    const ports = new Set<string>()
    for (let i = 0; i < 5; i++) ports.add((await shell.run('echo "$SSH_CONNECTION"')).stdout.trim().split(' ')[1]!)
    await Promise.all([1, 2, 3].map(async () => ports.add((await shells.on(machine).run('echo "$SSH_CONNECTION"')).stdout.trim().split(' ')[1]!)))
    assert.equal(ports.size, 1, `one client port for eight commands: ${[...ports].join(', ')}`)
    assert.equal(opened, 1)
    await shells.close()
    await shells.close()
    assert.equal(closed, 1)
  })

  it('two commands that find the cached connection lost share one new connection', async () => {
    const connections: Awaited<ReturnType<typeof openTestConnection>>[] = []
    const shells = machineShells(async () => {
      const connection = await openTestConnection()
      connections.push(connection)
      return {
        exec: (command, o) => connection.exec(command, o),
        get lost() {
          return connection.closedReason !== undefined
        },
        close: () => connection.close(),
      }
    })
    try {
      const port = async (): Promise<string> => (await shells.on(machine).run('echo "$SSH_CONNECTION"')).stdout.trim().split(' ')[1]!
      const first = await port()
      // The network drops the flow's connection; both next commands find it lost at once.
      connections[0]!.destroy()
      await pollUntil(async () => (connections[0]!.closedReason ? done(undefined) : notYet('open')), {timeoutMs: 5000, intervalMs: 20})
      const [a, b] = await Promise.all([port(), port()])
      assert.equal(connections.length, 2, `one new connection for both commands, not ${connections.length - 1}`)
      assert.equal(a, b, 'both commands came from one client port')
      assert.notEqual(a, first)
    } finally {
      await shells.close()
      for (const c of connections) c.destroy()
    }
  })

  it('sshShells (what the commands use) verifies the host key berth remembers and keeps one connection for the flow', async () => {
    const t = sshTarget()
    const stateDir = await mkdtemp(path.join(tmpdir(), 'berth-shell-state-'))
    try {
      await writeFile(path.join(stateDir, 'hostkeys.json'), JSON.stringify({'main-1': {private: '', public: t.hostKey}}), {mode: 0o600})
      const cluster = {name: 'shell', ssh: {user: t.username, keyFiles: []}, machines: [machine]} as unknown as Cluster
      const shells = sshShells(cluster, {identity: t.privateKeyPath, stateDir, port: t.port, timeoutMs: 5000})
      try {
        const shell = shells.on({...machine, ip: t.host})
        const ports = new Set<string>()
        for (let i = 0; i < 4; i++) ports.add((await shell.run('echo "$SSH_CONNECTION"')).stdout.trim().split(' ')[1]!)
        assert.equal(ports.size, 1, `one client port for four commands: ${[...ports].join(', ')}`)
        const error = await shell.run('echo gone >&2; exit 7').then(() => undefined, (e: unknown) => e)
        assert.ok(error instanceof RemoteCommandError, String(error))
        assert.deepEqual([error.host, error.command, error.code, error.stderr], [`main-1 (${t.host})`, 'echo gone >&2; exit 7', 7, 'gone'])
      } finally {
        await shells.close()
      }
      // A machine berth made no host key for is refused before anything runs.
      const stranger = sshShells(cluster, {identity: t.privateKeyPath, stateDir, port: t.port, timeoutMs: 5000})
      await assert.rejects(stranger.on({...machine, name: 'main-9', ip: t.host}).connect(), /berth has no host key for it/)
      await assert.rejects(stranger.on({...machine, name: 'main-9', ip: t.host}).run('true'), /berth has no host key for it/)
      await stranger.close()
    } finally {
      await rm(stateDir, {recursive: true, force: true})
    }
  })

  it('writeFiles and start over sshShells: atomic files, the marker last, memory only when asked; streams with and without a pty', async () => {
    const t = sshTarget()
    // The test sshd runs on this machine: its folders are this machine's.
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-shell-files-'))
    const ram = path.join(dir, 'ram')
    await execa('mkdir', [ram])
    await execa('mount', ['-t', 'tmpfs', '-o', 'mode=0700,size=1m', 'tmpfs', ram])
    try {
      await writeFile(path.join(dir, 'hostkeys.json'), JSON.stringify({'main-1': {private: '', public: t.hostKey}}), {mode: 0o600})
      const cluster = {name: 'shell', ssh: {user: t.username, keyFiles: []}, machines: [machine]} as unknown as Cluster
      const shells = sshShells(cluster, {identity: t.privateKeyPath, stateDir: dir, port: t.port, timeoutMs: 5000})
      try {
        await checkFilesAndStreams({on: (m) => shells.on({...m, ip: t.host}), close: () => shells.close()}, {disk: path.join(dir, 'disk'), ram})
      } finally {
        await shells.close()
      }
    } finally {
      await execa('umount', [ram], {reject: false})
      await rm(dir, {recursive: true, force: true})
    }
  })
})

describe('machine shells over docker exec (a throwaway container)', {timeout: 120_000}, () => {
  const provider = new DockerProvider()
  let id = ''
  const image = 'localhost/berth-test-shell:1'
  before(async () => {
    // busybox alone, its applets linked into /bin: nothing to pull.
    await busyboxImage(image, 'RUN ["/bin/busybox", "--install", "-s", "/bin"]\nCMD ["/bin/busybox", "sleep", "600"]\n')
    // A unique name per run; a tmpfs where node secrets would go.
    id = (await execa('docker', ['run', '-d', '--rm', '--name', `berth-test-shell-${process.pid}-${Date.now()}`, '--label', 'berth.test=shell', '--tmpfs', '/ram:mode=0700', image])).stdout.trim()
  })
  after(async () => {
    if (id) await execa('docker', ['rm', '-f', id], {reject: false})
  })

  it('run resolves on exit 0, throws RemoteCommandError with host, command, code and stderr tail otherwise', async () => {
    const shells = machineShells(async () => nodeChannel(provider, id))
    try {
      await checkSeam(shells)
    } finally {
      await shells.close()
    }
  })

  it('writeFiles and start: atomic files, the marker last, memory only when asked; streams with and without a pty', async () => {
    const shells = machineShells(async () => nodeChannel(provider, id, 'main-1 (127.0.0.1)'))
    try {
      await checkFilesAndStreams(shells, {disk: '/disk', ram: '/ram'})
    } finally {
      await shells.close()
    }
  })

  it('a file\'s bytes travel on stdin: no process in the container ever has them in its argv', async () => {
    const shells = machineShells(async () => nodeChannel(provider, id))
    const canary = `canary-${process.pid}-${Date.now()}`
    const decoy = `decoy-${canary.slice('canary-'.length)}`
    // A sampler inside the container copies every process's argv, over and over, until told to stop
    // (a loop there is dense enough to see each write's short `sh -c`; the decoy proves it sees argv).
    await execa('docker', ['exec', '-d', id, 'sh', '-c', 'rm -f /stop /sampled; while [ ! -e /stop ]; do cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\\0" " " >> /sampled; echo >> /sampled; done; echo done > /stopped'])
    try {
      await pollUntil(async () => ((await execa('docker', ['exec', id, 'test', '-s', '/sampled'], {reject: false})).exitCode === 0 ? done(undefined) : notYet('no sample yet')), {timeoutMs: 10_000, intervalMs: 50})
      await shells.on(machine).exec(`sleep 0.5; true # ${decoy}`)
      await shells.on(machine).writeFiles(Array.from({length: 20}, (_, i) => ({path: `/disk/canary/${i}`, data: `${canary}\n`})))
    } finally {
      await execa('docker', ['exec', id, 'sh', '-c', 'touch /stop; for i in $(seq 1 100); do [ -e /stopped ] && break; sleep 0.1; done; rm -f /stopped'])
      await shells.close()
    }
    const seen = (await execa('docker', ['exec', id, 'cat', '/sampled'])).stdout
    assert.ok(seen.includes(decoy), 'the sampler saw the decoy argv')
    assert.ok(!seen.includes(canary), 'the canary was never in an argv')
    assert.equal((await execa('docker', ['exec', id, 'cat', '/disk/canary/19'])).stdout, canary, 'the files were written')
  })
})
