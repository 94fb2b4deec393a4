import assert from 'node:assert/strict'
import {writeFile} from 'node:fs/promises'
import path from 'node:path'
import {setTimeout} from 'node:timers/promises'

import type {RolloutRecord} from '../../../src/layout/records.js'
import {ok, psRows, type DayTwoCluster, type DayTwoPart, type PsRow, webImage} from './context.js'

type Row = PsRow
interface History {revisions: Array<{revision: number; origin: string; current: boolean; note?: string}>; rollout?: RolloutRecord}

const SERVICE = 'roll'

/**
 * Rolling updates on the provision suite's cluster: a 2-replica service with an http check
 * is updated through `berth service update`, which follows the rollout to `completed` one
 * replica at a time (the other stays active meanwhile); a spec whose check cannot pass rolls
 * back by itself; `service rollback --to` puts the first revision back. A global service on
 * the three main machines rolls one machine at a time the same way.
 */
/** Polls `test` every 500 ms until it gives a value; the failure shows the rows `ps` gives then. */
async function untilRows<T>(what: string, ps: () => Promise<Row[]>, test: () => Promise<T | undefined | false>, timeoutMs = 120_000): Promise<T> {
  for (const deadline = Date.now() + timeoutMs; ;) {
    const value = await test()
    if (value) return value
    assert.ok(Date.now() < deadline, `${what}: ${JSON.stringify(await ps())}`)
    await setTimeout(500)
  }
}

/** `service update SERVICE --env ROLL=…`, followed to its end, with `service ps` sampled every 300 ms meanwhile. */
async function sampledUpdateOf(c: DayTwoCluster, service: string) {
  const samples: Row[][] = []
  let rolling = true
  const sampler = (async () => {
    while (rolling) {
      samples.push(await psRows(c, service))
      await setTimeout(300)
    }
  })()
  try {
    return {update: await c.berth(['service', 'update', service, '--env', `ROLL=${Date.now()}`, '--local-cluster', c.name]), samples}
  } finally {
    rolling = false
    await sampler
  }
}

const GLOBAL = 'rollg'

export const rolloutPart: DayTwoPart = {
  name: 'rollout',
  checks: [
    {
      title: 'service update rolls one replica at a time to completed; a check that cannot pass rolls back by itself; rollback --to restores a revision; start-first keeps both serving through an extra replica',
      async run(c: DayTwoCluster) {
        const target = ['--local-cluster', c.name]
        const image = await webImage(c)
        const ps = () => psRows(c, SERVICE)
        const history = async (): Promise<History> => JSON.parse(ok(await c.berth(['service', 'history', SERVICE, '--json', ...target]))) as History
        const deploy = async (health: string, deadline: number, order = 'stop-first'): Promise<void> => {
          const file = path.join(c.dir, `${SERVICE}.yaml`)
          await writeFile(file, `services:\n  ${SERVICE}: {image: "${image}", replicas: 2, health: {http: {port: 80, path: ${health}}, interval: 1, timeout: 2}, update: {healthyDeadline: ${deadline}, order: ${order}}}\n`)
          ok(await c.berth(['service', 'deploy', file, ...target]))
        }
        const until = <T>(what: string, test: () => Promise<T | undefined | false>, timeoutMs?: number) => untilRows(what, ps, test, timeoutMs)
        const sampledUpdate = () => sampledUpdateOf(c, SERVICE)
        await deploy('/index.html', 60)
        try {
          await until('two replicas active', async () => {
            const rows = await ps()
            return rows.length === 2 && rows.every((r) => r.observed === 'active')
          })
          // While the update rolls, sample ps: at no point may both replicas be down at once.
          const {update, samples} = await sampledUpdate()
          assert.equal(update.exitCode, 0, update.stderr || update.stdout)
          assert.match(update.stdout, /: completed: completed \(revision 1 → 2\), 2 batches done/)
          const both = samples.filter((rows) => rows.length === 2 && rows.every((r) => r.observed !== 'active'))
          assert.deepEqual(both, [], 'both replicas were down at once')
          const after = await ps()
          assert.deepEqual(after.map((r) => r.revision), ['2', '2'])
          const h = await history()
          assert.deepEqual([h.rollout?.state, h.rollout?.batchesDone, h.revisions.map((r) => r.revision)], ['completed', 2, [2, 1]])

          // A check that cannot pass: the first batch is not healthy in time and the service is rolled back to revision 2.
          await deploy('/missing', 15)
          const back = await until('rolled back', async () => {
            const r = (await history()).rollout
            return r?.state === 'rolled-back' && r
          }, 180_000)
          // The first batch is the one caught: a copy counts only under the new revision, from a container of its spec.
          assert.match(back.message ?? '', /batch 1 \(roll\.\d\) was not healthy within 15 s: .*; rolled back to revision 2/)
          const rolledBack = await history()
          assert.deepEqual(rolledBack.revisions.slice(0, 2).map((r) => [r.revision, r.origin, r.note ?? null, r.current]), [[4, 'scheduler', 'rollback to 2', true], [3, 'api', null, false]])
          await until('both replicas active on the rolled-back revision', async () => {
            const rows = await ps()
            return rows.length === 2 && rows.every((r) => r.observed === 'active' && r.revision === '4')
          })

          const rollback = await c.berth(['service', 'rollback', SERVICE, '--to', '1', ...target])
          assert.equal(rollback.exitCode, 0, rollback.stderr || rollback.stdout)
          assert.match(rollback.stdout, /revision 5 .*: completed/)

          // start-first: an extra replica of the new spec serves first, so two stay active throughout; it goes at the end.
          await deploy('/index.html', 60, 'start-first')
          await until('two replicas active on revision 6', async () => {
            const rows = await ps()
            return rows.length === 2 && rows.every((r) => r.observed === 'active' && r.revision === '6')
          })
          const {update: startFirst, samples: startFirstSamples} = await sampledUpdate()
          assert.equal(startFirst.exitCode, 0, startFirst.stderr || startFirst.stdout)
          assert.match(startFirst.stdout, /: completed: completed \(revision 6 → 7\), 3 batches done/)
          assert.deepEqual(startFirstSamples.filter((rows) => rows.filter((r) => r.observed === 'active').length < 2), [], 'fewer than two replicas active')
          assert.ok(startFirstSamples.some((rows) => rows.some((r) => r.replica === `${SERVICE}.3`)), `no extra replica seen: ${JSON.stringify(startFirstSamples)}`)
          const final = await until('the extra replica gone', async () => {
            const rows = await ps()
            return rows.length === 2 && rows
          })
          assert.deepEqual(final.map((r) => [r.replica, r.revision]), [[`${SERVICE}.1`, '7'], [`${SERVICE}.2`, '7']])
          // The trail has both: the leader's own rollback (from an agent) and the operator's.
          const {entries} = JSON.parse(ok(await c.berth(['audit', '--service', SERVICE, '--json', ...target]))) as {entries: Array<{action: string; from: {via: string}}>}
          assert.deepEqual(entries.filter((e) => e.action === 'service.rollback').map((e) => e.from.via), ['agent', 'cli'], JSON.stringify(entries))
        } finally {
          ok(await c.berth(['service', 'rm', SERVICE, ...target]))
        }
      },
    },
    {
      title: 'a global service rolls one machine at a time: service update follows it to completed, never two copies down, the copies\' revisions moving one by one',
      async run(c: DayTwoCluster) {
        const target = ['--local-cluster', c.name]
        const ps = () => psRows(c, GLOBAL)
        const file = path.join(c.dir, `${GLOBAL}.yaml`)
        // start-first on a global service is rolled stop-first (one container name per machine).
        await writeFile(file, `services:\n  ${GLOBAL}: {image: "${await webImage(c)}", roles: [main], health: {http: {port: 80, path: /index.html}, interval: 1, timeout: 2}, update: {healthyDeadline: 60, order: start-first}}\n`)
        ok(await c.berth(['service', 'deploy', file, ...target]))
        try {
          await untilRows('three copies active on revision 1', ps, async () => {
            const rows = await ps()
            return rows.length === 3 && rows.every((r) => r.observed === 'active' && r.revision === '1')
          })
          const {update, samples} = await sampledUpdateOf(c, GLOBAL)
          assert.equal(update.exitCode, 0, update.stderr || update.stdout)
          assert.match(update.stdout, /: completed: completed \(revision 1 → 2\), 3 batches done/)
          assert.deepEqual(samples.filter((rows) => rows.filter((r) => r.observed !== 'active').length > 1), [], 'two copies were down at once')
          // Each machine's copy moved on its own: some sample shows copies on both revisions.
          assert.ok(samples.some((rows) => new Set(rows.map((r) => r.revision)).size > 1), `every copy changed at once: ${JSON.stringify(samples)}`)
          const after = await untilRows('three copies active on revision 2', ps, async () => {
            const rows = await ps()
            return rows.length === 3 && rows.every((r) => r.observed === 'active' && r.revision === '2') && rows
          })
          assert.deepEqual(after.map((r) => r.machine), ['main-1', 'main-2', 'main-3'])
          const h = JSON.parse(ok(await c.berth(['service', 'history', GLOBAL, '--json', ...target]))) as History
          assert.deepEqual([h.rollout?.state, h.rollout?.batchesDone, h.rollout?.surged], ['completed', 3, undefined])
        } finally {
          ok(await c.berth(['service', 'rm', GLOBAL, ...target]))
        }
      },
    },
  ],
}
