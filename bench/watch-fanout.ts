import {randomBytes} from 'node:crypto'
import {loadavg} from 'node:os'
import {performance} from 'node:perf_hooks'

import {EtcdStore} from '../src/agent/store/store-etcd.js'
import {validateServiceSpec} from '../src/spec/service.js'
import {percentile, printTable, type Row} from './timing.js'

/**
 * Watch fan-out (issue 12, "Measure"): one spec change seen by 200 simulated agents watching
 * one etcd (target p99 < 500 ms), each agent an EtcdStore of its own (one etcd client, one
 * watch stream, as a real agent has) through the agent's own watch. A change is a service PUT
 * through another EtcdStore; each sample is the time from just before the PUT to one
 * watcher's callback. The floor is the same change seen by one watcher alone, in the same run.
 * All watchers live in this one process, so the figure also holds its event loop's work for
 * 200 streams; real agents each have a machine. Needs the test etcd (scripts/services.sh env).
 * Usage: node dist/bench/watch-fanout.js [CHANGES] [WATCHERS]
 */

const changes = Number(process.argv[2] ?? 20)
const watchers = Number(process.argv[3] ?? 200)
const endpoints = [process.env.BERTH_TEST_ETCD ?? 'http://127.0.0.1:23790']
const prefix = `/berth-bench-watch-${randomBytes(3).toString('hex')}`
const spec = await validateServiceSpec({image: 'registry.local/web:1', env: {N: '0'}})

/** What `changes` PUTs cost `count` watchers: every watcher's latency, and per change the slowest. */
async function fanOut(count: number): Promise<{each: number[]; last: number[]; put: number[]}> {
  const writer = new EtcdStore({endpoints, prefix})
  const stores = Array.from({length: count}, () => new EtcdStore({endpoints, prefix}))
  let started = 0
  let seen: number[] = []
  let all: () => void = () => {}
  const stops = await Promise.all(stores.map((store) => store.watch(() => {
    seen.push(performance.now() - started)
    if (seen.length === count) all()
  })))
  const each: number[] = []
  const last: number[] = []
  const put: number[] = []
  try {
    for (let i = 0; i <= changes; i++) {
      seen = []
      const done = new Promise<void>((resolve) => { all = resolve })
      started = performance.now()
      await writer.putService('web', {...spec, env: {N: String(i)}})
      const acked = performance.now() - started
      await done
      // The first change warms the streams and the writer's connection; it is not counted.
      if (i === 0) continue
      each.push(...seen)
      last.push(Math.max(...seen))
      put.push(acked)
      // Let the last callbacks' work settle, so one change does not overlap the next.
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  } finally {
    await Promise.all(stops.map((stop) => stop()))
    await Promise.all(stores.map((store) => store.close()))
    await writer.deleteService('web').catch(() => false)
    await writer.close()
  }
  const sorted = (xs: number[]) => xs.sort((a, b) => a - b)
  return {each: sorted(each), last: sorted(last), put: sorted(put)}
}

const load = loadavg()[0]!.toFixed(1)
const alone = await fanOut(1)
const many = await fanOut(watchers)
const p = (xs: number[], n: number) => percentile(xs, n).toFixed(1)
const ratio = (xs: number[]) => `${(percentile(xs, 50) / percentile(alone.each, 50)).toFixed(1)}x the floor (p50)`
const rows: Row[] = [
  {what: `the PUT itself, acknowledged (${watchers} watching)`, samples: many.put},
  {what: 'floor: PUT → event, one watcher alone', samples: alone.each, note: `p99 ${p(alone.each, 99)} ms`},
  {what: `PUT → event, each of ${watchers} watchers`, samples: many.each, target: 'p99 < 500 ms', note: `p99 ${p(many.each, 99)} ms; ${ratio(many.each)}`},
  {what: `PUT → the last of ${watchers} watchers has it`, samples: many.last, note: `p99 ${p(many.last, 99)} ms`},
]
printTable(`Watch fan-out: ${changes} changes seen by ${watchers} EtcdStore watchers on one etcd (load ${load})`, rows)
