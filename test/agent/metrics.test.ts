/**
 * The agent's Prometheus metrics: a real agent loop over the real etcd store (the node is
 * FakeNode: systemd cannot run here, the local-cluster day-two part scrapes a real node),
 * its real admin API serving GET /metrics behind the token, a listener of its own, and a
 * real Prometheus server (Debian's package) on loopback scraping it and showing it up.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdir, writeFile} from 'node:fs/promises'
import {request as httpRequest} from 'node:http'
import {request as httpsRequest} from 'node:https'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import type {Etcd3} from 'etcd3'

import {startApi, type RunningApi} from '../../src/agent/api/server.js'
import {serveMetrics} from '../../src/agent/api/metrics-listener.js'
import {replicaHealthy, type AgentMetrics} from '../../src/agent/loop/metrics.js'
import {parseShow} from '../../src/agent/node/node-ops.js'
import {agentOptionsFrom, type AgentOptions} from '../../src/agent/options.js'
import {agentMetrics, createAgent, type Agent} from '../../src/agent/wiring/runtime.js'
import {validateServiceSpec} from '../../src/spec/service.js'
import {UsageError} from '../../src/errors.js'
import {scratch} from '../support/cli.js'
import {startPrometheus} from '../support/prometheus.js'
import {selfSigned, testStatus, tokenFile} from './api-support.js'
import {FakeNode} from './loop-fake-node.js'
import {testService} from './store-support.js'

const endpoints = [testService('BERTH_TEST_ETCD')]
const prefix = `/berth-test-${randomBytes(4).toString('hex')}`
const token = 'tok-metrics-0123456789abcdef0123456789'


interface Answer {
  status: number
  contentType: string
  text: string
}

/** One GET, trusting `ca` for HTTPS; the token only when given. */
function get(url: string, options: {token?: string; ca?: Buffer} = {}): Promise<Answer> {
  const target = new URL(url)
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const req = send(target, {method: 'GET', ca: options.ca, headers: options.token ? {authorization: `Bearer ${options.token}`} : {}}, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), text: Buffer.concat(chunks).toString('utf8')}))
    })
    req.on('error', reject)
    req.end()
  })
}

/** The value of one series in an exposition text, or undefined when it is not there. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

interface Rig {
  agent: Agent
  node: FakeNode
  api: RunningApi
  ca: Buffer
  dir: string
  tokenFile: string
  options: AgentOptions
  metrics: AgentMetrics
}

/** A wired agent with metrics over the real etcd, its node a FakeNode, its admin API on 127.0.0.1. */
async function rig(): Promise<Rig> {
  const dir = await scratch('berth-metrics-')
  const unitDir = path.join(dir, 'units')
  await mkdir(unitDir)
  const tls = await selfSigned(dir)
  const options: AgentOptions = {
    file: path.join(dir, 'agent.json'), listen: '127.0.0.1:0', store: {kind: 'etcd', endpoints, prefix},
    tokenFile: await tokenFile(dir, token), allowedOrigins: [], insecureHttp: false, tls: {certFile: tls.certFile, keyFile: tls.keyFile},
    secrets: {kind: 'local', masterKeyFile: path.join(dir, 'master.key')},
    unitPrefix: 'berth-', unitDir, machine: 'main-1', role: 'main', resyncSeconds: 60, metrics: {enabled: true},
  }
  const node = new FakeNode(unitDir)
  const metrics = await agentMetrics(options)
  const agent = createAgent(options, {ops: node, envFileDir: path.join(dir, 'run'), metrics})
  const served = await serveMetrics(metrics, options)
  const {loop, store} = agent
  const api = await startApi({options, store, observe: (name) => loop.observe(name), status: () => loop.status(), requestSync: () => loop.requestSync(), metrics: served.onApi})
  after(async () => {
    await api.close()
    await agent.close()
  })
  return {agent, node, api, ca: tls.ca, dir, tokenFile: options.tokenFile, options, metrics}
}

const shared = await rig()
const raw: Etcd3 = new (await import('etcd3')).Etcd3({hosts: endpoints})
after(async () => {
  await raw.delete().prefix(`${prefix}/`).exec()
  raw.close()
})

describe('agent metrics', () => {
  // Made at the file's top level: a hook's after() would run as soon as the hook ends.
  const r = shared
  before(async () => {
    await r.agent.store.putService('web', await validateServiceSpec({image: 'localhost/web:1'}))
    await r.agent.store.putService('db', await validateServiceSpec({image: 'localhost/db:1', roles: ['data']}))
  })

  it('GET /metrics without the token, or with a wrong one, is 401 like every other route', async () => {
    for (const given of [undefined, 'wrong-token-0123456789abcdef']) {
      const answer = await get(`${r.api.url}/metrics`, {ca: r.ca, token: given})
      assert.equal(answer.status, 401, answer.text)
      assert.match(answer.text, /"unauthorized"/)
      assert.doesNotMatch(answer.text, /berth_agent/)
    }
    assert.equal((await get(`${r.api.url}/v1/status`, {ca: r.ca})).status, 401, 'the same answer as a route of the API')
  })

  it('serves passes, their duration, per-service replicas and etcd latency in the text format 0.0.4', async () => {
    await r.agent.loop.pass()
    await r.agent.loop.pass()
    const answer = await get(`${r.api.url}/metrics`, {ca: r.ca, token})
    assert.equal(answer.status, 200, answer.text)
    assert.match(answer.contentType, /^text\/plain; version=0\.0\.4/)
    const m = answer.text
    assert.equal(sample(m, 'berth_agent_reconcile_passes_total{result="converged"}'), 2)
    assert.equal(sample(m, 'berth_agent_reconcile_duration_seconds_count'), 2)
    assert.ok(sample(m, 'berth_agent_reconcile_duration_seconds_sum')! > 0)
    // The second pass observed what the first started.
    assert.equal(sample(m, 'berth_service_desired_replicas{service="web"}'), 1)
    assert.equal(sample(m, 'berth_service_running_replicas{service="web"}'), 1)
    assert.equal(sample(m, 'berth_service_healthy_replicas{service="web"}'), 1)
    assert.equal(sample(m, 'berth_service_desired_replicas{service="db"}'), undefined, 'db is for data machines only')
    assert.ok(sample(m, 'berth_etcd_request_duration_seconds_count{operation="services",outcome="ok"}')! >= 2, m)
    assert.ok(sample(m, 'berth_etcd_request_duration_seconds_count{operation="put_service",outcome="ok"}')! >= 2, 'the store\'s writes are timed too')
    const age = sample(m, 'berth_agent_last_pass_age_seconds')!
    assert.ok(age >= 0 && age < 5, `age ${age}`)
    assert.match(m, /^berth_agent_info\{machine="main-1",role="main",version="[^"]+"\} 1$/m)
    assert.ok(sample(m, 'process_resident_memory_bytes')! > 0, 'the default process metrics are there')
    assert.match(m, /^# TYPE berth_service_rollout_progress_ratio gauge$/m, 'registered for rollouts to come')
    assert.doesNotMatch(m, /^berth_service_rollout_progress_ratio\{/m, 'no rollouts exist yet')
  })

  it('the healthy gauge follows the health checks between passes: a scrape asks them, no pass needed', async () => {
    await r.agent.loop.pass()
    const healthOf = r.metrics.healthOf
    const scrape = async (): Promise<number | undefined> => sample((await get(`${r.api.url}/metrics`, {ca: r.ca, token})).text, 'berth_service_healthy_replicas{service="web"}')
    try {
      r.metrics.healthOf = () => false
      assert.equal(await scrape(), 0, 'a check that fails after the pass')
      r.metrics.healthOf = () => true
      assert.equal(await scrape(), 1, 'a start period that ends after the pass')
    } finally {
      r.metrics.healthOf = healthOf
    }
  })

  it('counts the agent\'s restarts, follows a unit that stops, and drops a deleted service', async () => {
    await r.agent.store.putService('web', await validateServiceSpec({image: 'localhost/web:2'}))
    assert.deepEqual((await r.agent.loop.pass()).actions.filter((a) => a.startsWith('restart')), ['restart berth-web.service'])
    r.node.states.set('berth-web.service', {activeState: 'failed', subState: 'failed', needsReload: false})
    for (const c of r.node.containersById.values()) c.running = false
    await r.agent.loop.pass()
    let m = (await get(`${r.api.url}/metrics`, {ca: r.ca, token})).text
    assert.equal(sample(m, 'berth_service_agent_restarts_total{service="web"}'), 1)
    assert.equal(sample(m, 'berth_service_running_replicas{service="web"}'), 0)
    assert.equal(sample(m, 'berth_service_healthy_replicas{service="web"}'), 0)
    assert.equal(sample(m, 'berth_agent_reconcile_passes_total{result="not_converged"}'), 1, 'the failed unit fails the pass')
    await r.agent.store.deleteService('web')
    await r.agent.loop.pass()
    await r.agent.loop.pass()
    m = (await get(`${r.api.url}/metrics`, {ca: r.ca, token})).text
    assert.equal(sample(m, 'berth_service_desired_replicas{service="web"}'), undefined, m)
    assert.ok(sample(m, 'berth_etcd_request_duration_seconds_count{operation="delete",outcome="ok"}')! >= 1)
  })

  it('a real Prometheus on loopback scrapes the agent over HTTPS with the token and shows it up', async () => {
    await r.agent.store.putService('web', await validateServiceSpec({image: 'localhost/web:3'}))
    await r.agent.loop.pass()
    await r.agent.loop.pass()
    const dir = path.join(r.dir, 'prometheus')
    await mkdir(dir)
    const caFile = path.join(dir, 'agent-ca.pem')
    await writeFile(caFile, r.ca)
    const address = new URL(r.api.url).host
    const prometheus = await startPrometheus(dir, {address, scheme: 'https', caFile, tokenFile: r.tokenFile})
    after(() => prometheus.close())
    const [target] = await prometheus.waitUp(20_000)
    assert.equal(target!.scrapeUrl, `https://${address}/metrics`)
    assert.equal(target!.lastError, '')
    const running = await prometheus.query('berth_service_running_replicas{service="web"}')
    assert.deepEqual(running.map((s) => s.value[1]), ['1'])
  })

  it('a Prometheus without the token sees the target down with 401', async () => {
    const dir = path.join(r.dir, 'prometheus-no-token')
    await mkdir(dir)
    const caFile = path.join(dir, 'agent-ca.pem')
    await writeFile(caFile, r.ca)
    const prometheus = await startPrometheus(dir, {address: new URL(r.api.url).host, scheme: 'https', caFile})
    after(() => prometheus.close())
    const deadline = Date.now() + 20_000
    let targets = await prometheus.targets()
    while (Date.now() < deadline && targets[0]?.health !== 'down') targets = await new Promise((resolve) => setTimeout(() => resolve(prometheus.targets()), 250))
    assert.equal(targets[0]?.health, 'down')
    assert.match(targets[0]!.lastError, /401/)
  })
})

describe('metrics on a listener of their own', () => {
  it('on loopback: plain HTTP without the token, and the admin API has no /metrics', async () => {
    const r = await rig()
    const served = await serveMetrics(r.agent.metrics!, {...r.options, metrics: {enabled: true, listen: '127.0.0.1:0'}})
    after(() => served.close())
    assert.equal(served.onApi, undefined)
    await r.agent.loop.pass()
    const answer = await get(served.url!)
    assert.equal(answer.status, 200)
    assert.match(answer.contentType, /^text\/plain; version=0\.0\.4/)
    assert.ok(sample(answer.text, 'berth_agent_reconcile_passes_total{result="converged"}')! >= 1)
    assert.equal((await get(served.url!.replace('/metrics', '/v1/status'))).status, 404)
  })

  it('off loopback: HTTPS with the admin API\'s certificate, and 401 without the token', async () => {
    const r = await rig()
    // 0.0.0.0 is not loopback, so it is guarded as the admin API; the test reaches it on 127.0.0.1.
    const served = await serveMetrics(r.agent.metrics!, {...r.options, metrics: {enabled: true, listen: '0.0.0.0:0'}})
    after(() => served.close())
    const url = served.url!.replace('0.0.0.0', '127.0.0.1')
    assert.match(url, /^https:/)
    assert.equal((await get(url, {ca: r.ca})).status, 401)
    const answer = await get(url, {ca: r.ca, token})
    assert.equal(answer.status, 200)
    assert.match(answer.text, /^# HELP berth_agent_reconcile_passes_total/m)
  })

  it('without metrics the admin API answers 404 for /metrics', async () => {
    const dir = await scratch('berth-metrics-off-')
    const tls = await selfSigned(dir)
    const {FileStore} = await import('../../src/agent/store/store-file.js')
    const api = await startApi({options: {listen: '127.0.0.1:0', tokenFile: await tokenFile(dir, token), allowedOrigins: [], tls, insecureHttp: false},
      store: new FileStore(path.join(dir, 'desired.yaml')), observe: async () => undefined, status: () => testStatus, requestSync: () => undefined})
    after(() => api.close())
    assert.equal((await get(`${api.url}/metrics`, {ca: tls.ca, token})).status, 404)
  })
})

describe('metrics options and sources', () => {
  it('metrics is on by default; metrics/listen may not take the admin API\'s port; unknown keys are named', async () => {
    const base = {tls: {certFile: 'c', keyFile: 'k'}}
    assert.deepEqual((await agentOptionsFrom(base, '/etc/berth/agent.json')).metrics, {enabled: true})
    assert.deepEqual((await agentOptionsFrom({...base, metrics: {enabled: false}}, '/etc/berth/agent.json')).metrics, {enabled: false})
    await assert.rejects(agentOptionsFrom({...base, listen: '10.0.0.1:8443', metrics: {listen: '127.0.0.1:8443'}}, '/etc/berth/agent.json'), (error: UsageError) => {
      assert.match(error.message, /\/etc\/berth\/agent\.json: metrics\/listen: 127\.0\.0\.1:8443 takes the admin API's port \(listen is 10\.0\.0\.1:8443\)/)
      return true
    })
    await assert.rejects(agentOptionsFrom({...base, metrics: {port: 9464}}, '/etc/berth/agent.json'), /metrics\/port: unknown key \(remove it; known keys here: enabled, listen\)/)
  })

  it('reads NRestarts from systemctl show, and healthy means the unit is active', () => {
    const out = 'Id=berth-web.service\nActiveState=active\nSubState=running\nNeedDaemonReload=no\nNRestarts=3\n\nId=berth-api.service\nActiveState=inactive\nSubState=dead\nNeedDaemonReload=no\nNRestarts=[not set]\n'
    const states = parseShow(out, ['berth-web.service', 'berth-api.service'])
    assert.equal(states.get('berth-web.service')?.restarts, 3)
    assert.equal(states.get('berth-api.service')?.restarts, undefined)
    assert.equal(replicaHealthy({hash: 'h', activeState: 'active', needsReload: false}), true)
    assert.equal(replicaHealthy({hash: 'h', activeState: 'activating', needsReload: false}), false)
    assert.equal(replicaHealthy(undefined), false)
    // With health checks, an active unit whose checks fail is not healthy.
    assert.equal(replicaHealthy({hash: 'h', activeState: 'active', needsReload: false}, {healthy: false}), false)
    assert.equal(replicaHealthy({hash: 'h', activeState: 'active', needsReload: false}, {healthy: true}), true)
    assert.equal(replicaHealthy({hash: 'h', activeState: 'failed', needsReload: false}, {healthy: true}), false)
  })
})
