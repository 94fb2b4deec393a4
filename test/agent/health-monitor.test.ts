/**
 * The health monitor's bookkeeping, clocked by the test: which container it checks under
 * which spec while a pass replaces a copy. Probes here answer by the path they are asked
 * for, so a check of the wrong spec shows as a wrong status. (The probes themselves, on real
 * containers, are health-probe.test.ts.)
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {HealthMonitor} from '../../src/agent/health/monitor.js'
import type {NodeContainer} from '../../src/agent/node/node-ops.js'
import {shortSpecHash} from '../../src/hash.js'
import type {ServiceSpec} from '../../src/spec/service.js'

const spec = (path: string, env: string): ServiceSpec => ({image: 'web:1', env: {V: env}, stopTimeout: 10, restart: 'always', roles: ['main'], health: {http: {port: 80, path}, interval: 1, timeout: 1, retries: 1}}) as ServiceSpec
/** The label a container of the spec carries: the test's stand-in for the unit renderer's hash. */
const label = (s: ServiceSpec): string => `label-${shortSpecHash(s)}`

function node() {
  let now = 1_000_000
  const containers: NodeContainer[] = []
  const monitor = new HealthMonitor({
    prefix: 'berth-',
    containers: async () => containers,
    inspect: async () => ({ip: '10.0.0.2', startedAt: now}),
    // The old spec's page is served; the broken spec's path is not.
    probe: async (check) => (check.http?.path === '/index.html' ? {ok: true} : {ok: false, error: `GET ${check.http?.path} answered 404`}),
    expectedSpecHash: (_service, s) => label(s),
    now: () => now,
    refreshMs: 5000,
  })
  const run = (id: string, s: ServiceSpec) => containers.splice(0, containers.length, {id: id.padEnd(64, '0'), name: 'berth-roll.1', service: 'roll.1', specHash: label(s), running: true, image: 'web:1'})
  const settle = async (ms: number) => {
    for (let t = 0; t <= ms; t += 250) {
      now += 250
      await monitor.tick()
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
  return {monitor, run, settle}
}

describe('health monitor', () => {
  it('a container of the spec before is not checked under the new spec, and a new container is not checked under the old one', async () => {
    const good = spec('/index.html', 'a')
    const broken = spec('/missing', 'b')
    const {monitor, run, settle} = node()
    run('aaaa', good)
    monitor.setServices(new Map([['roll.1', good]]))
    await settle(1000)
    assert.deepEqual([monitor.replicaHealth('roll.1')?.status, monitor.replicaHealth('roll.1')?.revision], ['healthy', shortSpecHash(good)])

    // The pass reads the broken spec; its container still runs the old one until the restart.
    monitor.setServices(new Map([['roll.1', broken]]))
    await settle(500)
    const before = monitor.replicaHealth('roll.1')
    assert.deepEqual([before?.status, before?.container, before?.revision], ['starting', 'aaaa00000000', shortSpecHash(broken)])
    assert.match(before?.lastError ?? '', /runs the spec before/)

    // The new container, seen within a second, checked under the broken spec: never healthy.
    run('bbbb', broken)
    await settle(1500)
    const after = monitor.replicaHealth('roll.1')
    assert.deepEqual([after?.status, after?.container, after?.revision], ['unhealthy', 'bbbb00000000', shortSpecHash(broken)])
    monitor.stop()
  })

  it('while the monitor still has the old spec, a container of a newer one is starting, not healthy under the old check', async () => {
    const good = spec('/index.html', 'a')
    const broken = spec('/missing', 'b')
    const {monitor, run, settle} = node()
    monitor.setServices(new Map([['roll.1', good]]))
    run('cccc', broken)
    await settle(2000)
    const health = monitor.replicaHealth('roll.1')
    assert.deepEqual([health?.status, health?.container, health?.revision], ['starting', 'cccc00000000', shortSpecHash(good)])
    monitor.stop()
  })
})
