import {setTimeout as sleep} from 'node:timers/promises'

import {execa} from 'execa'

import {check, startAgentNode, waitUntil, WEB_IMAGE, type AgentNode} from '../test/agent/node-support.js'
import {startEvents} from './docker-events.js'
import {percentile} from './timing.js'

/**
 * Change to running on a real node (target: p50 under 1 s, p95 under 2 s): on a one-node
 * local cluster with berth-agent in its container, PUT a service with a changed env value
 * and time until the node's dockerd reports the new container started (its `start` event,
 * stamped by the node's clock, which is this host's). Then the idle agent's CPU and RSS
 * over 30 s, read from /proc on the node. Run: `node dist/bench/agent-latency.js [changes]`.
 */

const changes = Number(process.argv[2] ?? 25)
const idleSeconds = Number(process.argv[3] ?? 30)

async function idleUsage(node: AgentNode): Promise<{cpuPercent: number; rssMb: number}> {
  const read = `pid=$(docker inspect --format '{{.State.Pid}}' berth-agent); awk '{print $14+$15}' /proc/$pid/stat; awk '/VmRSS/ {print $2}' /proc/$pid/status; getconf CLK_TCK`
  const sample = async () => (await execa('docker', ['exec', node.nodeId, 'sh', '-c', read])).stdout.trim().split('\n').map(Number)
  const [ticks0] = await sample()
  const t0 = performance.now()
  await sleep(idleSeconds * 1000)
  const [ticks1, rssKb, hz] = await sample()
  const seconds = (performance.now() - t0) / 1000
  return {cpuPercent: (((ticks1! - ticks0!) / hz!) / seconds) * 100, rssMb: rssKb! / 1024}
}

const node = await startAgentNode('agent-bench')
try {
  const spec = (i: number) => ({image: WEB_IMAGE, command: ['httpd', '-f', '-p', '8080'], env: {CHANGE: i}, stopTimeout: 2})
  const events = startEvents(node.nodeId, ['container=berth-bench'])
  await sleep(500)
  await node.api('PUT', '/v1/services/bench', spec(0))
  let current = (await events.next(() => true)).hash
  await waitUntil(async () => (await node.api('GET', '/v1/services/bench')).body.observed?.activeState === 'active', 30_000, 'bench runs')
  const latencies: number[] = []
  for (let i = 1; i <= changes; i++) {
    await sleep(300)
    const put = Date.now()
    const answer = await node.api('PUT', '/v1/services/bench', spec(i))
    if (answer.status !== 200) throw new Error(`PUT: ${answer.status} ${JSON.stringify(answer.body)}`)
    const started = await events.next((e) => e.hash !== current)
    current = started.hash
    latencies.push(started.ms - put)
  }
  events.stop()
  await node.api('DELETE', '/v1/services/bench')
  await sleep(3000)
  const idle = await idleUsage(node)
  const sorted = [...latencies].sort((a, b) => a - b)
  const ms = (n: number) => `${n.toFixed(0)} ms`
  console.log(`\nberth-agent on a local-cluster node (${changes} changes; PUT until the new container's start event)\n`)
  console.log('| measure | value | target |\n|---|---|---|')
  console.log(`| change to running, p50 | ${ms(percentile(sorted, 50))} | < 1 s |`)
  console.log(`| change to running, p95 | ${ms(percentile(sorted, 95))} | < 2 s |`)
  console.log(`| change to running, max | ${ms(sorted.at(-1)!)} | |`)
  console.log(`| idle agent CPU over ${idleSeconds} s | ${idle.cpuPercent.toFixed(2)} % of a core | < 1 % |`)
  console.log(`| idle agent RSS | ${idle.rssMb.toFixed(0)} MB | < 120 MB |`)
  await check(node.sh('true'))
} finally {
  await node.destroy()
}
