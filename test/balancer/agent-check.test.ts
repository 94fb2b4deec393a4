/**
 * A real HAProxy (the balancer image the local cluster runs) in front of an HTTP server and
 * the agent's agent-check on this host, reached over a Docker network the test makes: the
 * agent's `drain` puts the server in DRAIN and `ready` brings it back UP, as `show stat` on
 * the admin socket reports; and rolling-upgrade's own drain (the admin socket) is not undone
 * by an agent that still answers `ready`.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {createServer} from 'node:http'
import {after, before, describe, it} from 'node:test'

import {startAgentCheck, type RunningAgentCheck} from '../../src/agent/drain/agent-check.js'
import type {Readiness} from '../../src/agent/drain/drain.js'
import {renderConfig} from '../../src/balancer/config.js'
import {removeBalancer, startBalancer, type BalancerInfo} from '../../src/balancer/docker.js'
import {ensureBalancerImage} from '../../src/balancer/image.js'
import {drainServer, readyServer, serverStats} from '../../src/balancer/local.js'
import {docker} from '../../src/local-cluster/containers.js'
import {addressIn, freeSubnets, hostRoutes} from '../../src/local-cluster/subnet.js'
import {done, notYet, pollUntil} from '../../src/poll.js'

const run = randomBytes(4).toString('hex')
const cluster = `drain-${run}`
let network = ''
let balancer: BalancerInfo | undefined
let agentCheck: RunningAgentCheck | undefined
let answer: Readiness = 'ready'
const asks: {at: number; service: string; answer: Readiness}[] = []
const web = createServer((req, res) => res.writeHead(200, {'content-type': 'text/plain'}).end('ok\n'))

/** A Docker network of the test's own on a free /24; the host is its gateway, where the server and the agent-check listen. */
async function createNetwork(): Promise<{name: string; gateway: string; subnet: string}> {
  const inUse = (await docker(['network', 'ls', '-q'])).split('\n').filter(Boolean)
  const subnets = inUse.length === 0 ? [] : (await docker(['network', 'inspect', '--format', '{{range .IPAM.Config}}{{.Subnet}} {{end}}', ...inUse])).split(/\s+/).filter(Boolean)
  for (const subnet of freeSubnets([...subnets, ...(await hostRoutes())]).slice(0, 8)) {
    const name = `berth-${cluster}`
    const created = await docker(['network', 'create', '--subnet', subnet, '--gateway', addressIn(subnet, 1), '--label', `berth.test=${run}`, name]).then(() => true, (error: Error) => {
      if (/overlap/i.test(error.message)) return false
      throw error
    })
    if (created) return {name, gateway: addressIn(subnet, 1), subnet}
  }
  throw new Error('no free subnet for the test network')
}

/** Waits for main-1's status in `show stat`: `UP`, `DRAIN` (set on the admin socket) or `DRAIN (agent)` (set by the agent-check). */
async function waitStatus(expected: string, timeoutMs = 15_000): Promise<string> {
  return pollUntil(async () => {
    const status = (await serverStats(balancer!)).find((s) => s.name === 'main-1')?.status ?? ''
    return status === expected ? done(status) : notYet(status)
  }, {timeoutMs, intervalMs: 100})
}

describe('a real HAProxy and the agent-check', () => {
  before(async () => {
    const image = await ensureBalancerImage()
    const net = await createNetwork()
    network = net.name
    await new Promise<void>((resolve) => web.listen(0, net.gateway, resolve))
    const port = (web.address() as {port: number}).port
    agentCheck = await startAgentCheck(`${net.gateway}:8444`, (_asker, service) => {
      asks.push({at: Date.now(), service, answer})
      return answer
    })
    const config = renderConfig({service: 'web', port, healthPath: '/', servers: [{name: 'main-1', ip: net.gateway}]})
    balancer = await startBalancer({cluster, run, network: net.name, ip: addressIn(net.subnet, 3), image, service: 'web', config})
  })

  after(async () => {
    if (balancer) await removeBalancer(balancer.id)
    if (network) await docker(['network', 'rm', network]).catch(() => undefined)
    await agentCheck?.close()
    web.close()
  })

  it('the server is UP while the agent says ready, DRAIN once it says drain, and UP again on ready', async () => {
    assert.equal(await waitStatus('UP'), 'UP')
    // HAProxy sends the service name on each agent-check (agent-send "web\n"): wait for the first.
    await pollUntil(async () => (asks.some((a) => a.service === 'web') ? done(true) : notYet(asks.length)), {timeoutMs: 10_000, intervalMs: 50})
    answer = 'drain'
    const drainedAt = Date.now()
    assert.equal(await waitStatus('DRAIN (agent)'), 'DRAIN (agent)')
    // The agent knows it told the balancer: the drain can end at this event, not after a sleep.
    assert.ok(asks.some((a) => a.answer === 'drain' && a.at >= drainedAt))
    answer = 'ready'
    assert.equal(await waitStatus('UP'), 'UP')
  })

  it('rolling-upgrade\'s drain through the admin socket holds while the agent answers ready, and its ready hands the server back to the agent', async () => {
    answer = 'ready'
    assert.equal(await waitStatus('UP'), 'UP')
    await drainServer(balancer!, 'main-1')
    const held = asks.length
    const start = Date.now()
    // The agent is not asked while disabled; the window is four agent-check intervals.
    const stayed = await pollUntil(async () => {
      const status = (await serverStats(balancer!)).find((s) => s.name === 'main-1')?.status
      if (status !== 'DRAIN') return done(`undone: ${status}`)
      return Date.now() - start >= 2000 ? done('DRAIN') : notYet(status)
    }, {timeoutMs: 10_000, intervalMs: 100})
    assert.equal(stayed, 'DRAIN')
    assert.equal(asks.length, held, 'the agent-check is off while the upgrade drains')
    assert.equal(await readyServer(balancer!, 'main-1'), 'UP')
    answer = 'drain'
    assert.equal(await waitStatus('DRAIN (agent)'), 'DRAIN (agent)', 'the agent decides again after the upgrade')
  })
})
