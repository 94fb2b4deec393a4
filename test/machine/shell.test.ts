/**
 * The machine seam over its two real ways in: the test sshd of scripts/services.sh and
 * `docker exec` into a throwaway container this file creates and removes by id. A failed
 * command's error names the host, the command, the exit code and the tail of stderr; a
 * flow reuses one SSH connection per machine and closes it once.
 */
import assert from 'node:assert/strict'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {execa} from 'execa'

import {sshShells} from '../../src/cluster/remote.js'
import type {Cluster, Machine} from '../../src/config/types.js'
import {RemoteCommandError} from '../../src/errors.js'
import {DockerProvider} from '../../src/local-cluster/docker-provider.js'
import {nodeChannel} from '../../src/local-cluster/node-shell.js'
import {machineShells, type MachineShells, STDERR_TAIL_LINES} from '../../src/machine/shell.js'
import {done, notYet, pollUntil} from '../../src/poll.js'
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
      await assert.rejects(stranger.on({...machine, name: 'main-9', ip: t.host}).run('true'), /berth has no host key for it/)
      await stranger.close()
    } finally {
      await rm(stateDir, {recursive: true, force: true})
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
    id = (await execa('docker', ['run', '-d', '--rm', '--label', 'berth.test=shell', image])).stdout.trim()
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
})
