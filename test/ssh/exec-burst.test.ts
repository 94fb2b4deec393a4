/**
 * A server may answer an exec request, send the exit status and close the channel in one
 * burst; ssh2 then parses all three in the same turn of the event loop. The exit status
 * must still be seen. (Under load, real sshd did this for fast commands, and berth
 * reported "ended without an exit status".) An in-process ssh2 server makes the burst
 * certain: its writes all happen before the client reads.
 */
import assert from 'node:assert/strict'
import type {AddressInfo} from 'node:net'
import {after, before, describe, it} from 'node:test'

import ssh2 from 'ssh2'

import {connect, type SshConnection} from '../../src/ssh/index.js'
import {generateEd25519} from '../../src/ssh/keygen.js'

describe('exec when the server answers in one burst', () => {
  const hostKey = generateEd25519()
  const userKey = generateEd25519()
  const server = new ssh2.Server({hostKeys: [hostKey.private]}, (client) => {
    client.on('authentication', (ctx) => (ctx.method === 'publickey' ? ctx.accept() : ctx.reject(['publickey'])))
    client.on('session', (accept) => {
      accept().on('exec', (acceptExec, _reject, info) => {
        const channel = acceptExec()
        channel.write(`ran ${info.command}\n`)
        channel.exit(info.command === 'fail' ? 3 : 0)
        channel.end()
      })
    })
  })
  let shell: SshConnection

  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const {port} = server.address() as AddressInfo
    shell = await connect({host: '127.0.0.1', port, username: 'root', privateKey: userKey.private, knownHostKeys: [hostKey.public], timeoutMs: 5000})
  })

  after(async () => {
    await shell?.close()
    await new Promise((resolve) => server.close(resolve))
  })

  it('reports the exit status of every command, 200 times in a row', async () => {
    for (let i = 0; i < 100; i++) {
      assert.deepEqual(await shell.exec('true'), {code: 0, stdout: 'ran true\n', stderr: ''})
      assert.equal((await shell.exec('fail')).code, 3)
    }
  })

  it('and when many commands run at once on one connection', async () => {
    const results = await Promise.all(Array.from({length: 20}, (_, i) => shell.exec(i % 2 ? 'fail' : 'true')))
    assert.deepEqual(results.map((r) => r.code), Array.from({length: 20}, (_, i) => (i % 2 ? 3 : 0)))
  })
})
