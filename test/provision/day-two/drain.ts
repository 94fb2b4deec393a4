import assert from 'node:assert/strict'
import {writeFile} from 'node:fs/promises'
import path from 'node:path'
import {setTimeout} from 'node:timers/promises'
import {execa} from 'execa'

import {findBalancer} from '../../../src/balancer/docker.js'
import {serverStats} from '../../../src/balancer/local.js'
import {ok, psRows, type DayTwoCluster, type DayTwoPart, webImage} from './context.js'


const SERVICE = 'drained'
const PORT = 8090

/**
 * The agent drains a copy from the local HAProxy before it stops it: a 3-replica service
 * with a fixed host port (one copy per machine, stop-first) behind `local-cluster balancer`,
 * updated with `service update`; on each machine the old container's `die` (docker events on
 * the node) comes after HAProxy's `show stat` showed that machine's server `DRAIN (agent)`.
 */
export const drainPart: DayTwoPart = {
  name: 'drain',
  checks: [
    {
      title: 'a stop-first rollout behind the local HAProxy drains each machine\'s server before its old container stops',
      async run(c: DayTwoCluster) {
        const target = ['--local-cluster', c.name]
        const image = await webImage(c)
        const ps = () => psRows(c, SERVICE)
        const file = path.join(c.dir, `${SERVICE}.yaml`)
        // drainSeconds holds each copy in DRAIN for a second: a drain ended by the balancer's
        // acknowledgement alone can last a few ms, shorter than show stat's sampling through
        // docker exec (the acknowledgement itself is tested in test/agent/drain.test.ts).
        await writeFile(file, `services:\n  ${SERVICE}: {image: "${image}", replicas: 3, ports: ["${PORT}:80"], health: {http: {port: 80, path: /index.html}, interval: 1, timeout: 2}, update: {healthyDeadline: 60, drainSeconds: 1}}\n`)
        ok(await c.berth(['service', 'deploy', file, ...target]))
        const events: ReturnType<typeof execa>[] = []
        try {
          for (const deadline = Date.now() + 120_000; ;) {
            const rows = await ps()
            if (rows.length === 3 && rows.every((r) => r.observed === 'active')) break
            assert.ok(Date.now() < deadline, `three replicas active: ${JSON.stringify(rows)}`)
            await setTimeout(500)
          }
          // Every server UP means every agent has told HAProxy `ready` (its copy passed its check).
          ok(await c.berth(['local-cluster', 'balancer', 'up', '--service', SERVICE, '--port', String(PORT), '--health-path', '/index.html', '--json', '--name', c.name]))
          const info = await findBalancer(c.name)
          assert.ok(info, 'the balancer runs')
          const machines = [...new Set((await ps()).map((r) => r.machine!))].sort()
          const dies: {machine: string; at: number; name: string}[] = []
          for (const machine of machines) {
            const child = execa('docker', ['exec', c.container(machine), 'docker', 'events', '--filter', 'event=die', '--format', '{{.TimeNano}} {{.Actor.Attributes.name}}'], {reject: false, buffer: false})
            // Lines may arrive split across chunks: only whole lines are read.
            let pending = ''
            child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
              const lines = (pending + chunk).split('\n')
              pending = lines.pop() ?? ''
              for (const line of lines) {
                const match = /^(\d+) (\S+)$/.exec(line.trim())
                if (match) dies.push({machine, at: Number(BigInt(match[1]!) / 1_000_000n), name: match[2]!})
              }
            })
            events.push(child)
          }
          const samples: {at: number; status: Map<string, string>}[] = []
          let sampling = true
          const sampler = (async () => {
            while (sampling) {
              const servers = await serverStats(info).catch(() => [])
              samples.push({at: Date.now(), status: new Map(servers.map((s) => [s.name, s.status]))})
            }
          })()
          const update = await c.berth(['service', 'update', SERVICE, '--env', `DRAIN=${Date.now()}`, ...target])
          sampling = false
          await sampler
          assert.equal(update.exitCode, 0, update.stderr || update.stdout)
          const stopped = dies.filter((d) => new RegExp(`${SERVICE}\\.\\d+$`).test(d.name))
          assert.equal(new Set(stopped.map((d) => d.machine)).size, 3, `an old container died on each machine: ${JSON.stringify(dies)}`)
          for (const die of stopped) {
            const drained = samples.find((s) => s.at <= die.at && (s.status.get(die.machine) ?? '').startsWith('DRAIN'))
            assert.ok(drained, `${die.machine}: ${die.name} died at ${die.at} with no DRAIN sample before it (${samples.filter((s) => s.at <= die.at).slice(-3).map((s) => `${s.at} ${s.status.get(die.machine)}`).join(', ')})`)
          }
        } finally {
          for (const child of events) child.kill()
          await c.berth(['local-cluster', 'balancer', 'down', '--name', c.name])
          ok(await c.berth(['service', 'rm', SERVICE, ...target]))
        }
      },
    },
  ],
}
