import {randomBytes} from 'node:crypto'
import {mkdir, mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {EtcdStore} from '../src/agent/store/store-etcd.js'
import {startTestApi, type TestApi} from '../test/agent/api-server.js'
import {fuzzSeed} from '../test/support/api-fuzz.js'
import {etcdStoreView, fileStoreView, runFuzz, storeMismatch, type FuzzRun, type FuzzStore} from '../test/support/api-fuzz-run.js'

/**
 * The admin API fuzzer of test/agent/api-fuzz.test.ts, run longer: the real API over the
 * file store, and over etcd when BERTH_TEST_ETCD is set (scripts/services.sh env). Prints
 * requests tried, answers by status class, 500s and requests per second; the target is no
 * 5xx at all. Run: `node dist/bench/api-fuzz.js [requests] [seconds per store]`
 * (BERTH_FUZZ_SEED replays a run).
 */

const maxRequests = Number(process.argv[2] ?? 20_000)
const maxMs = Number(process.argv[3] ?? 60) * 1000
const seed = fuzzSeed()

interface Result {
  store: string
  run: FuzzRun
  mismatch: string | undefined
}

async function fuzz(name: string, api: TestApi, store: FuzzStore, runSeed: number): Promise<Result> {
  try {
    const run = await runFuzz({url: api.url, ca: api.ca, token: api.token, store}, {seed: runSeed, maxRequests, maxMs, sampleRate: 0.05})
    return {store: name, run, mismatch: await storeMismatch(store, run.expected)}
  } finally {
    await api.close()
  }
}

console.error(`api fuzz seed ${seed} (replay with BERTH_FUZZ_SEED=${seed})`)
const dir = await mkdtemp(path.join(tmpdir(), 'berth-bench-fuzz-'))
const results: Result[] = []
const fileApi = await startTestApi(await mkdir(path.join(dir, 'file')).then(() => path.join(dir, 'file')))
results.push(await fuzz('file', fileApi, fileStoreView(fileApi.storeFile), seed))
const etcd = process.env.BERTH_TEST_ETCD
if (etcd) {
  const prefix = `/berth-bench-fuzz-${randomBytes(4).toString('hex')}`
  const {Etcd3} = await import('etcd3')
  const client = new Etcd3({hosts: [etcd]})
  const store = new EtcdStore({endpoints: [etcd], prefix})
  try {
    results.push(await fuzz('etcd', await startTestApi(await mkdir(path.join(dir, 'etcd')).then(() => path.join(dir, 'etcd')), {store}), etcdStoreView(client, prefix), (seed + 1) >>> 0))
  } finally {
    await client.delete().prefix(`${prefix}/`).exec()
    client.close()
    await store.close()
  }
}
await rm(dir, {recursive: true, force: true})

console.log(`\n### Admin API fuzz (seed ${seed}; up to ${maxRequests} requests or ${maxMs / 1000} s per store)\n`)
console.log('| store | seed | requests | 2xx | 4xx | 5xx | of them 500 | no answer (hang-ups) | requests/s | broken rules | target |')
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|')
for (const {store, run, mismatch} of results) {
  const broken = run.problems.length + (mismatch ? 1 : 0)
  console.log(`| ${store} | ${run.seed} | ${run.tried} | ${run.classes['2xx']} | ${run.classes['4xx']} | ${run.classes['5xx']} | ${run.status500} | ${run.classes.none} | ${(run.tried / (run.ms / 1000)).toFixed(0)} | ${broken} | no 5xx, nothing broken |`)
}
for (const {run, mismatch} of results) for (const line of [...run.problems, ...(mismatch ? [mismatch] : [])]) console.log(`\n${line}`)
