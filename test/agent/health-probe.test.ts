import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {createServer as createHttpServer, type Server} from 'node:http'
import {createServer as createTcpServer, type AddressInfo} from 'node:net'
import {after, before, describe, it} from 'node:test'
import Docker from 'dockerode'
import {execa} from 'execa'

import {probeExec, probeHttp, probeTcp} from '../../src/agent/health/probe.js'
import {createHealthMonitor} from '../../src/agent/health/wire.js'
import {realNodeOps} from '../../src/agent/node/node-ops.js'
import {shortSpecHash} from '../../src/hash.js'
import {webImage} from './node-support.js'
import {until} from './store-support.js'

/** Serves `/ok` 200, `/teapot` 418, `/fail` 500 and `/slow` after 2 s, on 127.0.0.1. */
async function testServer(): Promise<{server: Server; port: number}> {
  const server = createHttpServer((req, res) => {
    const codes: Record<string, number> = {'/ok': 200, '/created': 201, '/teapot': 418, '/fail': 500}
    if (req.url === '/slow') setTimeout(() => res.end('late'), 2000).unref()
    else res.writeHead(codes[req.url ?? ''] ?? 404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {server, port: (server.address() as AddressInfo).port}
}

/** A port on 127.0.0.1 that nothing listens on: bound, read, closed. */
async function closedPort(): Promise<number> {
  const server = createTcpServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

describe('health probes on loopback', () => {
  let http: {server: Server; port: number}
  before(async () => (http = await testServer()))
  after(() => {
    http.server.closeAllConnections()
    http.server.close()
  })

  it('http passes on any 2xx by default, or on exactly the status asked', async () => {
    const at = (path: string, status?: number) => probeHttp({host: '127.0.0.1', port: http.port, path, status}, 1000)
    assert.deepEqual(await at('/ok'), {ok: true})
    assert.deepEqual(await at('/created'), {ok: true})
    assert.deepEqual(await at('/teapot', 418), {ok: true})
    assert.deepEqual(await at('/ok', 204), {ok: false, error: `GET /ok on port ${http.port} answered 200, expected 204`})
    assert.deepEqual(await at('/fail'), {ok: false, error: `GET /fail on port ${http.port} answered 500, expected 2xx`})
  })

  it('http fails at its timeout on a server that does not answer, and on a closed port', async () => {
    const started = performance.now()
    const slow = await probeHttp({host: '127.0.0.1', port: http.port, path: '/slow'}, 300)
    const took = performance.now() - started
    assert.equal(slow.ok, false)
    assert.match(slow.error ?? '', /no answer within 0.3 s/)
    assert.ok(took >= 290 && took < 1500, `took ${took} ms`)
    const port = await closedPort()
    const refused = await probeHttp({host: '127.0.0.1', port, path: '/'}, 1000)
    assert.equal(refused.ok, false)
    assert.match(refused.error ?? '', /ECONNREFUSED/)
  })

  it('tcp passes on a listening port and fails on a closed one', async () => {
    assert.deepEqual(await probeTcp({host: '127.0.0.1', port: http.port}, 1000), {ok: true})
    const port = await closedPort()
    const refused = await probeTcp({host: '127.0.0.1', port}, 1000)
    assert.equal(refused.ok, false)
    assert.match(refused.error ?? '', new RegExp(`connect to port ${port}: .*ECONNREFUSED`))
  })
})

describe('health checks against the host dockerd', () => {
  const docker = new Docker()
  const prefix = `ht${randomBytes(3).toString('hex')}-`
  const names: string[] = []
  let image: string
  const run = async (service: string, cmd: string[]): Promise<string> => {
    const name = `${prefix}${service}`
    names.push(name)
    const {stdout} = await execa('docker', ['run', '-d', '--rm', '--name', name, '--label', 'berth.managed=true', '--label', `berth.service=${service}`, image, ...cmd])
    return stdout.trim()
  }
  before(async () => (image = await webImage()))
  after(async () => {
    await execa('docker', ['rm', '-f', ...names], {reject: false})
  })

  it('exec runs argv in the container without a shell: exit 0 passes, another code or a missing program fails, a hang times out', async () => {
    const id = await run('exec', ['sleep', '300'])
    assert.deepEqual(await probeExec(docker, id, ['/bin/busybox', 'true'], 5000), {ok: true})
    assert.deepEqual(await probeExec(docker, id, ['/bin/busybox', 'false'], 5000), {ok: false, error: 'exec /bin/busybox exited with 1'})
    // No shell: `true && false` is one program's name, which does not exist.
    const noShell = await probeExec(docker, id, ['true && false'], 5000)
    assert.equal(noShell.ok, false)
    const started = performance.now()
    assert.deepEqual(await probeExec(docker, id, ['/bin/busybox', 'sleep', '10'], 400), {ok: false, error: 'exec /bin/busybox: did not exit within 0.4 s'})
    assert.ok(performance.now() - started < 2000)
    const gone = await probeExec(docker, 'f'.repeat(64), ['/bin/busybox', 'true'], 5000)
    assert.equal(gone.ok, false)
    assert.match(gone.error ?? '', /no such container/i)
  })

  it('the monitor finds berth containers and probes them on their bridge address: http healthy, a failing one unhealthy with the reason, one without a check starting until minHealthySeconds', async () => {
    const serve = ['sh', '-c', 'mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www']
    await Promise.all([run('good', serve), run('bad', serve), run('plain', ['sleep', '300']), run('tcp', serve)])
    const monitor = createHealthMonitor(prefix, realNodeOps())
    let changes = 0
    monitor.deps.onChange = () => (changes += 1)
    monitor.deps.tickMs = 50
    const spec = (health?: object) => ({image, stopTimeout: 10, restart: 'always' as const, roles: ['main' as const], ...(health ? {health} : {})})
    monitor.setServices(new Map([
      ['good', spec({http: {port: 8080, path: '/index.html'}, interval: 0.2, timeout: 1})],
      ['bad', spec({http: {port: 8080, path: '/missing'}, interval: 0.2, timeout: 1, retries: 2})],
      ['tcp', spec({tcp: {port: 8080}, interval: 0.2})],
      ['plain', spec()],
      ['absent', spec({exec: ['/bin/busybox', 'true']})],
    ]))
    try {
      await until('good and tcp healthy, bad unhealthy', () => monitor.replicaHealth('good')?.status === 'healthy' && monitor.replicaHealth('bad')?.status === 'unhealthy' && monitor.replicaHealth('tcp')?.status === 'healthy')
      const health = monitor.health()
      assert.equal(health.good?.status, 'healthy', JSON.stringify(health.good))
      assert.equal(health.tcp?.status, 'healthy', JSON.stringify(health.tcp))
      assert.equal(health.bad?.status, 'unhealthy', JSON.stringify(health.bad))
      assert.ok((health.bad?.failures ?? 0) >= 2)
      assert.equal(health.bad?.lastError, 'GET /missing on port 8080 answered 404, expected 2xx')
      // Started a moment ago: not yet MIN_HEALTHY_SECONDS.
      assert.equal(health.plain?.status, 'starting')
      assert.equal(health.plain?.check, 'none')
      assert.deepEqual({...health.absent, since: undefined, revision: undefined}, {status: 'starting', since: undefined, failures: 0, lastError: 'no running container', check: 'exec', revision: undefined})
      // Each copy's health names the revision (the spec's short hash) it was checked under.
      assert.equal(health.good?.revision, shortSpecHash(spec({http: {port: 8080, path: '/index.html'}, interval: 0.2, timeout: 1})))
      assert.ok(changes >= 2)
    } finally {
      monitor.stop()
    }
  })
})
