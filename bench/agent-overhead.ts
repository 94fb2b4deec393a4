import {request} from 'node:https'
import {setTimeout as sleep} from 'node:timers/promises'

import {execa} from 'execa'

import {buildInstallerImage} from '../src/images/installer.js'
import {AGENT, check, runAgentCommand, startAgentNode, waitUntil, WEB_IMAGE, type AgentNode} from '../test/agent/node-support.js'

/**
 * What the metrics cost an idle agent (issue 14's aim: under 1 % CPU and 120 MB resident):
 * on a one-node local cluster running one service, the agent in its container is restarted
 * with metrics off and on, alternately, and each time, after it settles, its CPU (utime +
 * stime from /proc) and resident memory are read over a window. With metrics on, the bench
 * scrapes GET /metrics every 15 s during the window, as a Prometheus would. Both sides are
 * measured in the same run, on the same node. Run: `node dist/bench/agent-overhead.js
 * [rounds] [seconds]` (default 2 rounds of 30 s each side).
 */

const rounds = Number(process.argv[2] ?? 2)
const windowSeconds = Number(process.argv[3] ?? 30)
const settleSeconds = 10
const scrapeEverySeconds = 15

interface Usage {
  cpuPercent: number
  rssMb: number
  scrapes: number
}

/** The agent's CPU ticks, resident kB and the clock rate, read on the node. */
async function sample(node: AgentNode): Promise<number[]> {
  const read = `pid=$(docker inspect --format '{{.State.Pid}}' ${AGENT}); awk '{print $14+$15}' /proc/$pid/stat; awk '/VmRSS/ {print $2}' /proc/$pid/status; getconf CLK_TCK`
  return (await execa('docker', ['exec', node.nodeId, 'sh', '-c', read])).stdout.trim().split('\n').map(Number)
}

/** One GET /metrics with the token; resolves to the status. */
function scrapeStatus(node: AgentNode): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({host: node.ip, port: 8443, path: '/metrics', ca: node.ca, headers: {authorization: `Bearer ${node.token}`}, timeout: 10_000}, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('error', reject)
    req.end()
  })
}

async function scrape(node: AgentNode): Promise<void> {
  const status = await scrapeStatus(node)
  if (status !== 200) throw new Error(`GET /metrics answered ${status}`)
}

/** Restarts the agent with metrics on or off and waits until its API answers. */
async function restartAgent(node: AgentNode, image: string, metrics: boolean): Promise<void> {
  const options = JSON.parse(await check(node.sh('cat /etc/berth/agent.json'))) as Record<string, unknown>
  await check(node.sh('cat > /etc/berth/agent.json', JSON.stringify({...options, metrics: {enabled: metrics}}, null, 2)))
  await check(node.sh(`docker rm -f ${AGENT} >/dev/null && ${runAgentCommand(image)} >/dev/null`))
  await waitUntil(async () => (await node.api('GET', '/v1/health').catch(() => ({status: 0}))).status === 200, 30_000, 'the admin API answers')
  const status = await scrapeStatus(node)
  if (status !== (metrics ? 200 : 404)) throw new Error(`GET /metrics answered ${status} with metrics ${metrics ? 'on' : 'off'}`)
}

/** Idle usage over the window; with metrics on, scraped every 15 s. */
async function idleUsage(node: AgentNode, metrics: boolean): Promise<Usage> {
  await sleep(settleSeconds * 1000)
  const [ticks0] = await sample(node)
  const t0 = performance.now()
  let scrapes = 0
  while (performance.now() - t0 < windowSeconds * 1000) {
    if (metrics && performance.now() - t0 >= scrapes * scrapeEverySeconds * 1000) {
      await scrape(node)
      scrapes++
    }
    await sleep(Math.min(1000, Math.max(0, windowSeconds * 1000 - (performance.now() - t0))))
  }
  const [ticks1, rssKb, hz] = await sample(node)
  const seconds = (performance.now() - t0) / 1000
  return {cpuPercent: (((ticks1! - ticks0!) / hz!) / seconds) * 100, rssMb: rssKb! / 1024, scrapes}
}

const {tag: image} = await buildInstallerImage()
const node = await startAgentNode('agent-overhead', image)
try {
  await node.api('PUT', '/v1/services/web', {image: WEB_IMAGE, command: ['httpd', '-f', '-p', '8080'], stopTimeout: 2})
  await waitUntil(async () => (await node.api('GET', '/v1/services/web')).body.observed?.activeState === 'active', 60_000, 'web runs')
  const results: Record<'off' | 'on', Usage[]> = {off: [], on: []}
  for (let round = 0; round < rounds; round++) {
    for (const side of ['off', 'on'] as const) {
      await restartAgent(node, image, side === 'on')
      results[side].push(await idleUsage(node, side === 'on'))
    }
  }
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
  const cell = (us: Usage[], key: 'cpuPercent' | 'rssMb', digits: number): string => `${us.map((u) => u[key].toFixed(digits)).join(' / ')} (mean ${mean(us.map((u) => u[key])).toFixed(digits)})`
  console.log(`\n### Idle agent with and without metrics (${rounds} rounds of ${windowSeconds} s each side, after ${settleSeconds} s to settle; one service; image ${image})\n`)
  console.log('| metrics | CPU % | resident MB | scrapes per window | target |')
  console.log('|---|---:|---:|---:|---|')
  const [offCpu, onCpu] = [mean(results.off.map((u) => u.cpuPercent)), mean(results.on.map((u) => u.cpuPercent))]
  const [offRss, onRss] = [mean(results.off.map((u) => u.rssMb)), mean(results.on.map((u) => u.rssMb))]
  console.log(`| off (\`metrics: {enabled: false}\`) | ${cell(results.off, 'cpuPercent', 2)} | ${cell(results.off, 'rssMb', 1)} | 0 | |`)
  console.log(`| on, GET /metrics every ${scrapeEverySeconds} s | ${cell(results.on, 'cpuPercent', 2)} | ${cell(results.on, 'rssMb', 1)} | ${results.on[0]?.scrapes ?? 0} | < 1 % ${onCpu < 1 ? '✓' : '✗'}, < 120 MB ${onRss < 120 ? '✓' : '✗'} |`)
  console.log(`| on vs off | +${(onCpu - offCpu).toFixed(2)} points | +${(onRss - offRss).toFixed(1)} MB (${(onRss / offRss).toFixed(2)}x) | | |`)
} finally {
  await node.destroy()
}
