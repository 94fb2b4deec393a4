/**
 * Draining a copy before its stop: the pure rules (when a drain begins and ends, what a
 * balancer is told), the agent-check over a real TCP connection, the loop holding a stop
 * back on a fake node, the health monitor showing `draining`, and the readiness route over
 * the real admin API. A real HAProxy reading the agent-check is test/balancer/agent-check.test.ts.
 */
import assert from 'node:assert/strict'
import {readFile} from 'node:fs/promises'
import {connect} from 'node:net'
import path from 'node:path'
import {describe, it} from 'node:test'

import {agentReply, requestedService, startAgentCheck} from '../../src/agent/drain/agent-check.js'
import {beginDrain, DRAIN_CAP_MS, drainOver, nextDrainCheck, readiness, stepDrains, type Ask} from '../../src/agent/drain/drain.js'
import {Drainer} from '../../src/agent/drain/drainer.js'
import {HealthMonitor} from '../../src/agent/health/monitor.js'
import type {NodeContainer} from '../../src/agent/node/node-ops.js'
import type {ReplicaHealth} from '../../src/layout/records.js'
import {done, notYet, pollUntil} from '../../src/poll.js'
import {validateServiceSpec, type ServiceSpec} from '../../src/spec/service.js'
import {UsageError} from '../../src/errors.js'
import {send, testApi} from './api-support.js'
import {fakeNodeAgent} from './loop-fake-node.js'

const T = 1_000_000
const spec = (drainSeconds?: number) => ({update: drainSeconds === undefined ? undefined : {drainSeconds}})
const ask = (asker: string, at: number, answer: 'ready' | 'drain', service = 'web'): Ask => ({asker, service, at, answer})
const health = (status: ReplicaHealth['status']): ReplicaHealth => ({status, since: new Date(T).toISOString(), failures: 0, check: 'http'})

describe('drain rules', () => {
  it('a stop drains when the spec has a drain time or a balancer asks about the service, else goes ahead', () => {
    const step = stepDrains(new Map(), new Map([['web.1', spec(5)], ['api', spec()], ['web.2', spec()], ['db', spec(0)]]), [ask('10.0.0.3', T - 2000, 'ready', 'api'), ask('10.0.0.3', T - 20_000, 'ready', 'db')], T)
    // web.1: 5 s; api: a balancer asked 2 s ago; web.2 and db: no drain time, nobody asking recently.
    assert.deepEqual([...step.hold].sort(), ['api', 'web.1'])
    assert.deepEqual(step.began, ['api', 'web.1'])
    assert.deepEqual(step.drains.get('web.1'), {service: 'web', since: T, until: T + 5000, cap: T + 5000 + DRAIN_CAP_MS})
    assert.deepEqual(step.drains.get('api'), {service: 'api', since: T, until: T, cap: T + DRAIN_CAP_MS})
  })

  it('ends when every balancer asking was told drain since it began, after its drain time, or at its cap', () => {
    const drain = beginDrain('web.2', spec(0), T)
    const before = ask('10.0.0.3', T - 100, 'ready')
    assert.equal(drainOver(drain, [before], T + 400), false, 'the balancer was last told ready')
    assert.equal(drainOver(drain, [before, ask('10.0.0.4', T + 300, 'drain')], T + 400), false, 'one of two balancers was told')
    assert.equal(drainOver(drain, [ask('10.0.0.3', T + 450, 'drain'), ask('10.0.0.4', T + 300, 'drain')], T + 500), true)
    assert.equal(drainOver(drain, [before], T + DRAIN_CAP_MS), true, 'the cap')
    const timed = beginDrain('web.2', spec(3), T)
    assert.equal(drainOver(timed, [ask('10.0.0.3', T + 100, 'drain')], T + 2999), false, 'told, but the drain time is not up')
    assert.equal(drainOver(timed, [], T + 3000), true, 'nobody asks: the drain time alone')
    assert.equal(drainOver(timed, [ask('10.0.0.3', T + 2000, 'ready')], T + 8000), false, 'a balancer asking, last told ready')
  })

  it('a pass after the end lets the stop go ahead, and a copy no longer stopping is ready again', () => {
    const current = new Map([['web.1', beginDrain('web.1', spec(1), T)], ['web.3', beginDrain('web.3', spec(1), T)]])
    const step = stepDrains(current, new Map([['web.1', spec(1)]]), [], T + 1000)
    assert.deepEqual([[...step.hold], step.ended, [...step.drains.keys()]], [[], ['web.1'], []])
    const still = stepDrains(current, new Map([['web.1', spec(1)]]), [], T + 500)
    assert.deepEqual([[...still.hold], still.began, [...still.drains.keys()]], [['web.1'], [], ['web.1']])
  })

  it('looks again at the nearest drain time, then at the cap', () => {
    const drains = new Map([['a', beginDrain('a', spec(2), T)], ['b', beginDrain('b', spec(0), T)]])
    assert.equal(nextDrainCheck(drains, T + 500), 1500)
    assert.equal(nextDrainCheck(new Map([['b', beginDrain('b', spec(0), T)]]), T + 500), DRAIN_CAP_MS - 500)
    assert.equal(nextDrainCheck(new Map(), T), undefined)
  })

  it('tells balancers ready only for a healthy copy with none draining', () => {
    assert.equal(readiness([health('healthy')]), 'ready')
    assert.equal(readiness([health('starting')]), 'drain')
    assert.equal(readiness([health('unhealthy')]), 'drain')
    assert.equal(readiness([health('healthy'), health('draining')]), 'drain')
    assert.equal(readiness([undefined]), 'drain')
    assert.equal(readiness([]), 'drain')
  })

  it('update/drainSeconds is a number of seconds 0-3600 shorter than healthyDeadline', async () => {
    const problems = async (update: object) => validateServiceSpec({image: 'web:1', update}).then(() => [], (e: UsageError) => e.problems.map((p) => `${p.path}: ${p.message} (${p.fix})`))
    assert.deepEqual(await problems({drainSeconds: 30}), [])
    assert.deepEqual(await problems({drainSeconds: 120}), ['update/drainSeconds: is 120 s, not less than healthyDeadline (120 s): a batch would fail while its old copies still drain (lower drainSeconds below 120, or raise healthyDeadline above 120)'])
    assert.match((await problems({drainSeconds: -1})).join(), /update\/drainSeconds/)
    assert.match((await problems({drainSeconds: 4000, healthyDeadline: 5000})).join(), /update\/drainSeconds/)
  })
})

describe('agent-check', () => {
  it('answers one line per connection and closes; a request naming no service is told drain', async () => {
    assert.equal(requestedService('web\n'), 'web')
    assert.equal(requestedService('web\r\n'), 'web')
    assert.equal(requestedService('\n'), undefined)
    assert.equal(requestedService('../etc\n'), undefined)
    assert.equal(agentReply(undefined, () => 'ready'), 'drain\n')
    const asked: string[] = []
    const running = await startAgentCheck('127.0.0.1:0', (asker, service) => {
      asked.push(`${asker} ${service}`)
      return service === 'web' ? 'ready' : 'drain'
    })
    try {
      const exchange = (request: string) => new Promise<string>((resolve, reject) => {
        let reply = ''
        const socket = connect(running.port, '127.0.0.1', () => socket.write(request))
        socket.setEncoding('latin1').on('data', (chunk: string) => (reply += chunk)).on('end', () => resolve(reply)).on('error', reject)
      })
      assert.deepEqual([await exchange('web\n'), await exchange('api\n'), await exchange('not a name\n'), await exchange('x'.repeat(500))], ['ready\n', 'drain\n', 'drain\n', 'drain\n'])
      assert.deepEqual(asked, ['127.0.0.1 web', '127.0.0.1 api'])
    } finally {
      await running.close()
    }
  })
})

const fakeAgent = () => fakeNodeAgent(60, 'berth-drain-')

describe('agent loop with drains', () => {
  it('holds a changed copy\'s restart until the balancer that asks was told drain, without holding the other services', async () => {
    const {agent, node} = await fakeAgent()
    await agent.store.putService('web', await validateServiceSpec({image: 'localhost/web:1', ports: ['8080:80']}))
    await agent.store.putService('api', await validateServiceSpec({image: 'localhost/api:1'}))
    assert.equal((await agent.loop.pass()).converged, true)
    agent.readiness('10.0.0.3', 'web') // a balancer asks about web (and is told drain: no health checks on a fake node)
    await agent.store.putService('web', await validateServiceSpec({image: 'localhost/web:2', ports: ['8080:80']}))
    await agent.store.putService('api', await validateServiceSpec({image: 'localhost/api:2'}))
    const held = await agent.loop.pass()
    assert.deepEqual(held.actions, ['writeUnit berth-api.service', 'daemon-reload', 'restart berth-api.service'])
    assert.deepEqual([held.outcomes.web, held.converged, held.drift], [{ok: true, actions: ['drain']}, false, ['api', 'web']])
    assert.ok(agent.drainer.draining('web'))
    assert.equal((await agent.loop.pass()).actions.length, 0, 'still draining: nobody was told since it began')
    agent.readiness('10.0.0.3', 'web')
    const after = await agent.loop.pass()
    assert.deepEqual(after.actions, ['writeUnit berth-web.service', 'daemon-reload', 'restart berth-web.service'])
    assert.equal(agent.drainer.draining('web'), undefined)
    assert.match(await readFile(path.join(node.unitDir, 'berth-web.service'), 'utf8'), /localhost\/web:2/)
    await agent.close()
  })

  it('a removed copy drains for its last spec\'s drainSeconds, then its unit goes', async () => {
    const {agent} = await fakeAgent()
    await agent.store.putService('web', await validateServiceSpec({image: 'localhost/web:1', update: {drainSeconds: 0.3}}))
    await agent.loop.pass()
    await agent.store.deleteService('web')
    const held = await agent.loop.pass()
    assert.deepEqual([held.actions, held.outcomes.web?.actions], [[], ['drain']])
    const drain = agent.drainer.draining('web')!
    assert.equal(drain.until - drain.since, 300)
    // The drain's end is an event on the clock: poll passes until the stop is taken.
    const stopped = await pollUntil(async () => {
      const report = await agent.loop.pass()
      return report.actions.length > 0 ? done(report) : notYet(report)
    }, {timeoutMs: 5000, intervalMs: 50})
    assert.ok(Date.now() >= drain.until)
    assert.deepEqual(stopped.actions, ['stop berth-web.service', 'removeUnit berth-web.service', 'daemon-reload'])
    await agent.close()
  })
})

describe('health and readiness while a copy drains', () => {
  const web = {image: 'web:1', stopTimeout: 10, restart: 'always', roles: ['main'], health: {http: {port: 80, path: '/'}, interval: 1, timeout: 1, retries: 1}} as ServiceSpec
  function monitored() {
    let now = T
    const drainer = new Drainer({now: () => now})
    const containers: NodeContainer[] = [{id: 'a'.repeat(64), name: 'berth-web.1', service: 'web.1', specHash: 'h', running: true, image: 'web:1'}]
    const monitor = new HealthMonitor({prefix: 'berth-', containers: async () => containers, inspect: async () => ({ip: '10.0.0.2', startedAt: now}), probe: async () => ({ok: true}), now: () => now, draining: (copy) => drainer.draining(copy)})
    monitor.setServices(new Map([['web.1', web]]), new Map([['web.1', 'rev-from-the-loop']]))
    const settle = async (ms: number) => {
      for (let t = 0; t < ms; t += 250) {
        now += 250
        await monitor.tick()
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
    return {monitor, drainer, settle, readiness: (asker: string, service: string) => drainer.told(asker, service, monitor.readiness(service))}
  }

  it('the monitor reports draining under the loop\'s revision hash; the readiness route answers 200 only while healthy and not draining', async () => {
    const {monitor, drainer, settle, readiness: ready} = monitored()
    const api = await testApi({deps: {readiness: ready}})
    const route = async (p: string, method = 'GET') => {
      const reply = await send(api, method, p, {auth: false, headers: {origin: 'https://elsewhere.example'}})
      return `${reply.status} ${reply.text}`.trim()
    }
    assert.equal(await route('/v1/ready/web'), '503 not ready', 'starting: no check passed yet')
    await settle(1000)
    assert.deepEqual([monitor.replicaHealth('web.1')?.status, monitor.replicaHealth('web.1')?.revision], ['healthy', 'rev-from-the-loop'])
    assert.equal(await route('/v1/ready/web'), '200 ready')
    assert.equal(await route('/v1/ready/web', 'HEAD'), '200')
    assert.equal(drainer.step(new Map([['web.1', {update: {drainSeconds: 5}}]])).has('web.1'), true)
    assert.equal(monitor.replicaHealth('web.1')?.status, 'draining')
    assert.equal(monitor.replicaHealth('web.1')?.since, new Date(T + 1000).toISOString())
    assert.equal(await route('/v1/ready/web'), '503 not ready')
    assert.equal(await route('/v1/ready/api'), '503 not ready', 'no copy here')
    assert.match(await route('/v1/ready/..'), /^400 /)
    assert.match(await route('/v1/ready/web', 'POST'), /^405 /)
    // The route asked too: its caller counts as a balancer told drain since the drain began.
    assert.ok(drainer.asks().some((a) => a.service === 'web' && a.answer === 'drain' && a.asker === '127.0.0.1'))
    monitor.stop()
  })
})
