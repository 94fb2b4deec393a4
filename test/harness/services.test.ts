import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {request} from 'node:http'
import {describe, test} from 'node:test'

import {connect} from '../../src/ssh/index.js'
import {dockerSocket, etcdUrl, postgresUrl, registryAddress, sshTarget} from '../support/services.js'

/** GET over plain HTTP, on a TCP address or a unix socket; resolves with status and body. */
function get(options: {host?: string; port?: number; socketPath?: string; path: string}): Promise<{status: number; body: string}> {
  return new Promise((resolve, reject) => {
    const req = request({...options, method: 'GET', timeout: 5_000}, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => (body += d))
      res.on('end', () => resolve({status: res.statusCode ?? 0, body}))
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${options.path} timed out`)))
    req.on('error', reject)
    req.end()
  })
}

describe('services started by scripts/services.sh', () => {
  test('etcd: put, get and delete a key', async () => {
    const {Etcd3} = await import('etcd3')
    const client = new Etcd3({hosts: etcdUrl(), dialTimeout: 3_000})
    const key = `/berth-test/harness/${randomBytes(6).toString('hex')}`
    try {
      await client.put(key).value('hello')
      assert.equal(await client.get(key).string(), 'hello')
      await client.delete().key(key)
      assert.equal(await client.get(key).string(), null)
    } finally {
      client.close()
    }
  })

  test('PostgreSQL: a query in the berth_test database', async () => {
    const {default: pg} = await import('pg')
    const client = new pg.Client({connectionString: postgresUrl(), connectionTimeoutMillis: 3_000})
    await client.connect()
    try {
      const {rows} = await client.query<{db: string; sum: number}>('select current_database() as db, 40 + 2 as sum')
      assert.deepEqual(rows, [{db: 'berth_test', sum: 42}])
    } finally {
      await client.end()
    }
  })

  test('sshd: a command over SSH with the verified host key', async () => {
    const t = sshTarget()
    const conn = await connect({host: t.host, port: t.port, username: t.username, privateKey: t.privateKey, knownHostKeys: [t.hostKey], timeoutMs: 5_000})
    try {
      assert.deepEqual(await conn.exec('id -un'), {code: 0, stdout: `${t.username}\n`, stderr: ''})
    } finally {
      await conn.close()
    }
  })

  test('registry: GET /v2/ answers 200', async () => {
    const [host, port] = registryAddress().split(':')
    const res = await get({host, port: Number(port), path: '/v2/'})
    assert.equal(res.status, 200)
    assert.equal(res.body.trim(), '{}')
  })

  test('dockerd: answers /info through dockerode', async () => {
    const {default: Docker} = await import('dockerode')
    const info = (await new Docker({socketPath: dockerSocket()}).info()) as {ServerVersion?: string}
    assert.match(info.ServerVersion ?? '', /^\d+\.\d+/)
  })
})
