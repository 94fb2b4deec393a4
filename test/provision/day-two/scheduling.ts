import assert from 'node:assert/strict'
import {writeFile} from 'node:fs/promises'
import path from 'node:path'
import {setTimeout} from 'node:timers/promises'

import {execa} from 'execa'

import {done as ready, notYet, pollUntil} from '../../../src/poll.js'
import {ok, psRows, type DayTwoCluster, type DayTwoPart, type PsRow, webImage} from './context.js'


type Row = PsRow

const SERVICE = 'spread'
const BURST = 'burst'

/** The scheduler's leader: the candidate whose election key was created first (etcd3's Election). */
async function schedulerLeader(c: DayTwoCluster): Promise<string> {
  const out = ok(await c.sh('main-1', 'ETCDCTL_API=3 etcdctl get --prefix /berth/scheduler/election/ -w json'))
  const kvs = (JSON.parse(out) as {kvs?: Array<{create_revision: number; value: string}>}).kvs ?? []
  const first = [...kvs].sort((a, b) => a.create_revision - b.create_revision)[0]
  assert.ok(first, `no scheduler candidate in etcd: ${out}`)
  return Buffer.from(first.value, 'base64').toString('utf8')
}

const ps = (c: DayTwoCluster): Promise<Row[]> => psRows(c, SERVICE)

/** Polls `service ps` until `done` holds; returns the rows and how long it took. */
async function until(c: DayTwoCluster, what: string, done: (rows: Row[]) => boolean, timeoutMs = 90_000): Promise<{rows: Row[]; ms: number}> {
  const started = Date.now()
  const rows = await pollUntil(async () => {
    const rows = await ps(c)
    return done(rows) ? ready(rows) : notYet(rows)
  }, {timeoutMs, intervalMs: 500, retryOn: () => false, onTimeout: (last) => new assert.AssertionError({message: `${what}: ${JSON.stringify(last.seen)}`})})
  return {rows, ms: Date.now() - started}
}

/** Two replicas, each active, on two machines none of which is in `not`. */
const spreadActive = (not: string[] = []) => (rows: Row[]): boolean =>
  rows.length === 2 && rows.every((r) => r.observed === 'active' && r.machine !== undefined && !not.includes(r.machine)) && new Set(rows.map((r) => r.machine)).size === 2

/** The replica containers running on a node. */
async function replicaContainers(c: DayTwoCluster, machine: string): Promise<string[]> {
  const names = ok(await c.sh(machine, 'docker ps --format "{{.Names}}"')).split('\n')
  return names.filter((n) => n.includes(`${SERVICE}.`))
}

/**
 * The scheduler on the provision suite's cluster: a 2-replica service spread over two
 * machines, a drain that moves a replica before returning, a node stopped and its replica
 * running elsewhere, the node back without a duplicate. Runs last of the day-two parts: it
 * stops a node.
 */
export const scheduling: DayTwoPart = {
  name: 'scheduling',
  checks: [
    {
      title: 'the leader\'s agent killed as a service is placed: a new leader finishes, every replica runs once',
      async run(c: DayTwoCluster) {
        const target = ['--local-cluster', c.name]
        const image = await webImage(c)
        const leader = await schedulerLeader(c)
        const file = path.join(c.dir, 'burst.yaml')
        await writeFile(file, `services:\n  ${BURST}: {image: "${image}", replicas: 3}\n`)
        // The deploy returns once the spec is stored; the leader is killed while it places (or just after).
        ok(await c.berth(['service', 'deploy', file, ...target]))
        await execa('docker', ['exec', c.container(leader), 'docker', 'kill', '--signal', 'KILL', 'berth-agent'])
        try {
          const started = Date.now()
          for (;;) {
            const rows = await psRows(c, BURST)
            const containers = (await Promise.all(['main-1', 'main-2', 'main-3'].map(async (m) => ok(await c.sh(m, 'docker ps --format "{{.Names}}"')).split('\n').filter((n) => n.includes(`${BURST}.`))))).flat()
            if (rows.length === 3 && rows.every((r) => r.observed === 'active') && containers.length === 3) {
              assert.deepEqual(containers.sort(), [1, 2, 3].map((n) => `berth-${BURST}.${n}`), 'each replica runs once')
              console.log(`# scheduling: leader ${leader}'s agent killed after the deploy -> 3 replicas active, once each, in ${Date.now() - started} ms (new leader ${await schedulerLeader(c)})`)
              break
            }
            assert.ok(Date.now() - started < 90_000, `after the leader was killed: ${JSON.stringify(rows)}; containers ${JSON.stringify(containers)}`)
            await setTimeout(500)
          }
        } finally {
          ok(await c.berth(['service', 'rm', BURST, ...target]))
        }
        // The killed agent is back (Restart=always) before the next check stops a node.
        for (const deadline = Date.now() + 60_000; (await c.sh(leader, 'systemctl is-active berth-agent.service')).exitCode !== 0;) {
          assert.ok(Date.now() < deadline, `${leader}'s agent did not come back`)
          await setTimeout(1000)
        }
      },
    },
    {
      title: 'two replicas on two machines; a drain moves one first; a stopped node\'s replica runs elsewhere; back, it runs no duplicate',
      async run(c: DayTwoCluster) {
        const target = ['--local-cluster', c.name]
        const image = await webImage(c)
        const file = path.join(c.dir, 'spread.yaml')
        await writeFile(file, `services:\n  ${SERVICE}: {image: "${image}", replicas: 2}\n`)
        ok(await c.berth(['service', 'deploy', file, ...target]))
        try {
          const placed = await until(c, 'two replicas active on two machines', spreadActive())
          console.log(`# scheduling: 2 replicas placed and active in ${placed.ms} ms`)

          const drained = placed.rows[0]!.machine!
          ok(await c.berth(['machine', 'drain', drained, '--wait', '--timeout', '90', ...target]))
          const afterDrain = await ps(c)
          assert.ok(spreadActive([drained])(afterDrain), `after the drain: ${JSON.stringify(afterDrain)}`)
          ok(await c.berth(['machine', 'ready', drained, ...target]))

          // Not main-1: the suite's later checks read main-1's node secrets as uploaded, not unsealed at a boot.
          const lost = afterDrain.map((r) => r.machine!).find((m) => m !== 'main-1')!
          await execa('docker', ['stop', '-t', '2', c.container(lost)])
          try {
            const moved = await until(c, `${lost}'s replica running elsewhere`, spreadActive([lost]))
            console.log(`# scheduling: ${lost} stopped -> its replica active elsewhere in ${moved.ms} ms`)
          } finally {
            await execa('docker', ['start', c.container(lost)])
          }
          // Back: its agent stops what is no longer assigned to it.
          for (const deadline = Date.now() + 120_000; ;) {
            const reached = await c.sh(lost, 'systemctl is-active berth-agent.service')
            if (reached.exitCode === 0 && (await replicaContainers(c, lost)).length === 0) break
            assert.ok(Date.now() < deadline, `${lost} back: agent ${reached.stdout.trim() || reached.stderr.trim()}, replica containers ${JSON.stringify(reached.exitCode === 0 ? await replicaContainers(c, lost) : [])}`)
            await setTimeout(1000)
          }
          assert.ok(spreadActive([lost])(await ps(c)), 'still two replicas, none on the machine that came back')
        } finally {
          ok(await c.berth(['service', 'rm', SERVICE, ...target]))
        }
      },
    },
  ],
}
