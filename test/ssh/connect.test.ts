import assert from 'node:assert/strict'
import {existsSync} from 'node:fs'
import {createServer, type Server, type Socket} from 'node:net'
import {after, describe, test} from 'node:test'

import ssh2 from 'ssh2'

import {BerthError, RetryableError, UsageError} from '../../src/errors.js'
import {fingerprint, HostKeyMismatchError, SshAuthenticationError} from '../../src/ssh/index.js'
import {sshTarget} from '../support/services.js'
import {openTestConnection, scratchDir} from './fixture.js'
import {generateEd25519} from '../../src/ssh/keygen.js'

const scratch = scratchDir('connect')
after(() => scratch.remove())

/** A fresh ed25519 key pair in OpenSSH format: a key the test sshd has never seen. */
function strangerKey(): {private: string; public: string} {
  return generateEd25519()
}

/** A loopback TCP port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('connect', () => {
  test('accepts the host key services.sh generated and runs a command', async () => {
    const conn = await openTestConnection()
    try {
      const result = await conn.exec('echo hello')
      assert.equal(result.stdout, 'hello\n')
      assert.equal(conn.where, `${sshTarget().host}:${sshTarget().port}`)
    } finally {
      await conn.close()
    }
  })

  test('accepts the host key when it is one of several known keys', async () => {
    const conn = await openTestConnection({knownHostKeys: [strangerKey().public, sshTarget().hostKey]})
    await conn.close()
  })

  test('refuses a different host key, names both fingerprints, and runs nothing', async () => {
    const marker = `${scratch.dir}/must-not-exist`
    const wrong = strangerKey().public
    let conn
    try {
      conn = await openTestConnection({knownHostKeys: [wrong]})
    } catch (error) {
      assert.ok(error instanceof HostKeyMismatchError, String(error))
      assert.equal(error.retryable, false)
      assert.match(error.message, new RegExp(`^${sshTarget().host}:${sshTarget().port}: host key mismatch`))
      assert.ok(error.message.includes(fingerprint(wrong)), error.message)
      assert.ok(error.message.includes(`ssh-ed25519 ${fingerprint(sshTarget().hostKey)}`), error.message)
    }
    // Had the connection been accepted, this command would have left the marker behind.
    if (conn) await conn.exec(`touch ${marker}`).finally(() => conn.close())
    assert.equal(conn, undefined, 'a connection with a wrong host key must not be returned')
    assert.equal(existsSync(marker), false)
  })

  test('refuses when no known key is of a type the server offers', async () => {
    const rsa = ssh2.utils.generateKeyPairSync('rsa', {bits: 2048}).public
    await assert.rejects(openTestConnection({knownHostKeys: [rsa]}), (error: unknown) => {
      assert.ok(error instanceof HostKeyMismatchError, String(error))
      assert.ok(error.message.includes(fingerprint(rsa)), error.message)
      return true
    })
  })

  test('never trusts on first use: no known keys is a usage error before any connection', async () => {
    await assert.rejects(openTestConnection({knownHostKeys: []}), (error: unknown) => {
      assert.ok(error instanceof UsageError)
      assert.match(error.message, /never trusts a host key on first use/)
      return true
    })
  })

  test('a key the server does not accept is a clear authentication error', async () => {
    await assert.rejects(openTestConnection({privateKey: strangerKey().private}), (error: unknown) => {
      assert.ok(error instanceof SshAuthenticationError, String(error))
      assert.equal(error.retryable, false)
      assert.match(error.message, /refused berth's key for user "root"/)
      return true
    })
  })

  test('an unreadable private key is a BerthError that does not quote the key', async () => {
    const garbage = 'not-a-key-SECRET-MATERIAL-1234'
    await assert.rejects(openTestConnection({privateKey: garbage}), (error: unknown) => {
      assert.ok(error instanceof BerthError, String(error))
      assert.match(error.message, /cannot use the private key/)
      assert.ok(!error.message.includes('SECRET-MATERIAL'), error.message)
      return true
    })
  })

  test('connection refused is retryable and names host:port', async () => {
    const port = await closedPort()
    await assert.rejects(openTestConnection({port}), (error: unknown) => {
      assert.ok(error instanceof RetryableError, String(error))
      assert.match(error.message, new RegExp(`^127\\.0\\.0\\.1:${port}: connection refused`))
      return true
    })
  })

  test('a server that never answers the handshake times out, retryably', async () => {
    const sockets: Socket[] = []
    const silent: Server = createServer((s) => sockets.push(s))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    const {port} = silent.address() as {port: number}
    try {
      const started = Date.now()
      await assert.rejects(openTestConnection({port, timeoutMs: 300}), (error: unknown) => {
        assert.ok(error instanceof RetryableError, String(error))
        assert.match(error.message, new RegExp(`^127\\.0\\.0\\.1:${port}: no SSH handshake within 300 ms`))
        return true
      })
      assert.ok(Date.now() - started < 3_000, 'the time-out must be honoured')
    } finally {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => silent.close(resolve))
    }
  })
})
