import assert from 'node:assert/strict'
import {after, before, describe, test} from 'node:test'

import {RemoteCommandError, RetryableError} from '../../src/errors.js'
import type {SshConnection} from '../../src/ssh/index.js'
import {openTestConnection} from './fixture.js'

describe('exec', () => {
  let conn: SshConnection
  before(async () => {
    conn = await openTestConnection()
  })
  after(async () => {
    await conn?.close()
  })

  test('returns exit code, stdout and stderr separately', async () => {
    const result = await conn.exec('echo out; echo err >&2; exit 3')
    assert.deepEqual(result, {code: 3, stdout: 'out\n', stderr: 'err\n'})
  })

  test('passes stdin and closes it', async () => {
    const result = await conn.exec('wc -c', {stdin: Buffer.alloc(100_000, 'x')})
    assert.equal(result.code, 0)
    assert.equal(result.stdout.trim(), '100000')
  })

  test('reports a signal instead of an exit code', async () => {
    const result = await conn.exec('kill -TERM $$')
    assert.equal(result.code, null)
    assert.equal(result.signal, 'SIGTERM')
  })

  test('runs several commands at once on one connection', async () => {
    const started = Date.now()
    const results = await Promise.all([1, 2, 3, 4, 5].map((n) => conn.exec(`sleep 1; echo ${n}`)))
    assert.deepEqual(results.map((r) => r.stdout.trim()), ['1', '2', '3', '4', '5'])
    assert.ok(Date.now() - started < 4_000, 'in parallel: one after another would take 5 s')
  })

  test('execChecked returns the result on exit 0', async () => {
    const result = await conn.execChecked('printf ok')
    assert.equal(result.stdout, 'ok')
  })

  test('execChecked throws RemoteCommandError with host, command, code and stderr', async () => {
    await assert.rejects(conn.execChecked('echo "no such unit" >&2; exit 5'), (error: unknown) => {
      assert.ok(error instanceof RemoteCommandError)
      assert.equal(error.host, conn.where)
      assert.equal(error.code, 5)
      assert.equal(error.stderr, 'no such unit\n')
      assert.equal(error.message, `${conn.where}: \`echo "no such unit" >&2; exit 5\` exited with 5: no such unit`)
      return true
    })
  })

  test('a secret on stdin never appears in the error of a failed command', async () => {
    const secret = 'SECRET-stdin-7f3a9c'
    await assert.rejects(conn.execChecked('cat > /nonexistent-dir/secret', {stdin: secret}), (error: unknown) => {
      assert.ok(error instanceof RemoteCommandError)
      assert.match(error.message, /No such file or directory/)
      assert.ok(!error.message.includes(secret))
      assert.ok(!String(error.stack).includes(secret))
      return true
    })
  })

  test('a command on a dropped connection fails retryably instead of hanging', async () => {
    const doomed = await openTestConnection()
    const running = doomed.exec('sleep 30')
    setTimeout(() => doomed.destroy(), 100)
    await assert.rejects(running, (error: unknown) => {
      assert.ok(error instanceof RetryableError, String(error))
      return true
    })
    await assert.rejects(doomed.exec('true'), RetryableError)
  })
})
