import assert from 'node:assert/strict'
import {writeFile} from 'node:fs/promises'
import path from 'node:path'

import type {ReplicaHealth} from '../../../src/layout/records.js'
import {done as ready, notYet, pollUntil} from '../../../src/poll.js'
import {ok, type DayTwoCluster, type DayTwoPart, webImage} from './context.js'


type Machines = Array<{name: string; services: Record<string, string>; health: Record<string, ReplicaHealth>}>

/** Polls `cluster status --json` until `done` holds for every machine, or fails with what it saw last. */
async function waitForStatus(c: DayTwoCluster, what: string, done: (m: Machines[number]) => boolean, timeoutMs = 90_000): Promise<Machines> {
  return pollUntil(async () => {
    const {machines} = JSON.parse(ok(await c.berth(['cluster', 'status', '--json', '--local-cluster', c.name]))) as {machines: Machines}
    return machines.every(done) ? ready(machines) : notYet(machines)
  }, {
    timeoutMs,
    intervalMs: 1000,
    retryOn: () => false,
    onTimeout: (last) => new assert.AssertionError({message: `${what}: ${JSON.stringify((last.seen ?? []).map((m) => ({name: m.name, services: m.services, health: m.health})))}`}),
  })
}

/** Health checks on the provision suite's cluster: each agent probes its copies and writes their health to etcd. */
export const health: DayTwoPart = {
  name: 'health',
  checks: [
    {
      title: 'a passing http check and an exec check are healthy on every machine, a failing one unhealthy with its reason, in cluster status',
      async run(c: DayTwoCluster) {
        const target = ['--local-cluster', c.name]
        const image = await webImage(c)
        const file = path.join(c.dir, 'health.yaml')
        await writeFile(file, [
          'services:',
          `  hc-good: {image: "${image}", health: {http: {port: 80, path: /index.html}, interval: 1, timeout: 2}}`,
          `  hc-exec: {image: "${image}", health: {exec: [/usr/local/bin/busybox, "true"], interval: 1}}`,
          `  hc-bad: {image: "${image}", health: {http: {port: 80, path: /missing}, interval: 1, retries: 2}}`,
          '',
        ].join('\n'))
        ok(await c.berth(['service', 'deploy', file, ...target]))
        try {
          const machines = await waitForStatus(c, 'hc-good and hc-exec healthy, hc-bad unhealthy', (m) =>
            m.health['hc-good']?.status === 'healthy' && m.health['hc-exec']?.status === 'healthy' && m.health['hc-bad']?.status === 'unhealthy')
          for (const m of machines) {
            assert.equal(m.health['hc-bad']?.lastError, 'GET /missing on port 80 answered 404, expected 2xx', m.name)
            assert.equal(m.services['hc-bad'], 'active', 'an unhealthy copy keeps running: rollouts, not the check, act on it')
          }
          const text = ok(await c.berth(['cluster', 'status', ...target]))
          assert.match(text, /hc-good active healthy/)
          assert.match(text, /hc-bad: unhealthy \(\d+ failures\): GET \/missing on port 80 answered 404, expected 2xx/)
        } finally {
          for (const name of ['hc-good', 'hc-exec', 'hc-bad']) ok(await c.berth(['service', 'rm', name, ...target]))
        }
        await waitForStatus(c, 'the health services are gone', (m) => !['hc-good', 'hc-exec', 'hc-bad'].some((s) => s in m.services || s in m.health))
      },
    },
  ],
}
