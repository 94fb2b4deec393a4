import {isDeepStrictEqual} from 'node:util'
import {readFile} from 'node:fs/promises'
import type {Etcd3} from 'etcd3'

import {validateServiceName, validateServiceSpec} from '../../src/spec/service.js'
import {answerProblem, describeRequest, FuzzSender, fuzzRequest, Random, type FuzzAnswer, type FuzzRequest} from './api-fuzz.js'

/**
 * Runs the admin API fuzzer against a running API over a real store, checking each answer
 * and, for a sample of requests, that a refused one left the store's bytes as they were
 * and that the store holds exactly what the API said it accepted.
 */

/** The store behind the API, seen from outside the agent: its raw bytes and raw specs. */
export interface FuzzStore {
  /** Everything the store holds for services, as stored (file bytes, etcd key/values). */
  snapshot(): Promise<string>
  /** Each stored service's raw spec by name, parsed but not validated. */
  raw(): Promise<Map<string, unknown>>
}

/** The file store's view: the YAML file's bytes, and its `services:` parsed. */
export function fileStoreView(file: string): FuzzStore {
  const text = (): Promise<string> => readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return ''
    throw error
  })
  return {
    snapshot: text,
    async raw() {
      const {parse} = await import('yaml')
      const root = (parse(await text()) ?? {}) as {services?: Record<string, unknown>}
      return new Map(Object.entries(root.services ?? {}))
    },
  }
}

/** The etcd store's view: every key and value under `<prefix>/services/`. */
export function etcdStoreView(client: Etcd3, prefix: string): FuzzStore {
  const dir = `${prefix}/services/`
  const all = (): Promise<Record<string, string>> => client.getAll().prefix(dir).strings()
  return {
    snapshot: async () => JSON.stringify(Object.entries(await all()).sort()),
    async raw() {
      return new Map(Object.entries(await all()).map(([key, text]) => [key.slice(dir.length), JSON.parse(text) as unknown]))
    },
  }
}

/** Where the API is and how to reach it. */
export interface FuzzTarget {
  url: string
  ca: Buffer
  token: string
  store: FuzzStore
}

/** How long to fuzz and how often to look behind the API. */
export interface FuzzLimits {
  seed: number
  maxRequests: number
  maxMs: number
  /** Share of requests around which the store is snapshotted (default 0.2). */
  sampleRate?: number
  /** Called with every answer and how long it took (ms), for a bench's breakdown. */
  onAnswer?: (fuzz: FuzzRequest, answer: FuzzAnswer, ms: number) => void
}

/** What a run saw. */
export interface FuzzRun {
  seed: number
  tried: number
  ms: number
  /** Answers by class: 2xx, 4xx, 5xx, other (1xx/3xx) and none (connection closed). */
  classes: Record<'2xx' | '4xx' | '5xx' | 'other' | 'none', number>
  /** Answers with status 500 exactly. */
  status500: number
  /** Requests around which the store was snapshotted. */
  sampled: number
  /** Every broken rule, with the request that broke it (the first 20). */
  problems: string[]
  /** What the API says the store holds, from its 2xx answers. */
  expected: Map<string, unknown>
}

const json = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

/** Fuzzes until `maxRequests` are sent or `maxMs` have passed, whichever comes first. */
export async function runFuzz(target: FuzzTarget, limits: FuzzLimits): Promise<FuzzRun> {
  const rnd = new Random(limits.seed)
  // A separate stream decides the sample, so the requests are the same at any sample rate.
  const sampler = new Random(limits.seed ^ 0x5eed)
  const sender = new FuzzSender(target.url, target.ca)
  const run: FuzzRun = {seed: limits.seed, tried: 0, ms: 0, classes: {'2xx': 0, '4xx': 0, '5xx': 0, other: 0, none: 0}, status500: 0, sampled: 0, problems: [], expected: new Map()}
  const problem = (i: number, fuzz: FuzzRequest, what: string): void => {
    if (run.problems.length < 20) run.problems.push(`request ${i} (seed ${limits.seed}): ${what}\n    ${describeRequest(fuzz)}`)
  }
  // The fuzz meets whatever the store held before it.
  for (const [name, spec] of await target.store.raw()) run.expected.set(name, spec)
  const started = performance.now()
  try {
    for (let i = 0; i < limits.maxRequests && performance.now() - started < limits.maxMs; i++) {
      const fuzz = fuzzRequest(rnd, target.token)
      const sample = sampler.chance(limits.sampleRate ?? 0.2)
      const before = sample ? await target.store.snapshot() : undefined
      const sent = performance.now()
      const answer = await sender.send(fuzz)
      limits.onAnswer?.(fuzz, answer, performance.now() - sent)
      run.tried++
      count(run, answer)
      const broken = answerProblem(fuzz, answer)
      if (broken) problem(i, fuzz, broken)
      if (answer.status >= 200 && answer.status < 300) remember(run.expected, answer, fuzz.path)
      if (!sample) continue
      run.sampled++
      if (!(answer.status >= 200 && answer.status < 300) && (await target.store.snapshot()) !== before) problem(i, fuzz, `refused with ${answer.status}, yet the store changed`)
      const mismatch = await storeMismatch(target.store, run.expected)
      if (mismatch) problem(i, fuzz, mismatch)
    }
  } finally {
    sender.close()
  }
  run.ms = performance.now() - started
  return run
}

function count(run: FuzzRun, answer: FuzzAnswer): void {
  const s = answer.status
  if (s === 500) run.status500++
  run.classes[s === 0 ? 'none' : s >= 500 ? '5xx' : s >= 400 ? '4xx' : s >= 200 && s < 300 ? '2xx' : 'other']++
}

/** What a quartermaster `/run` stored: its answer names the service, not its spec (the validator still checks it). */
const RUN = Symbol('a quartermaster run')

/**
 * Follows the store's content from the API's own answers: a PUT's `{name, spec}`, a DELETE's
 * `{deleted}`, quartermaster's `/run` and `/stop` answers `{success: true, id}`.
 */
function remember(expected: Map<string, unknown>, answer: FuzzAnswer, path: string): void {
  let body: unknown
  try {
    body = JSON.parse(answer.text)
  } catch {
    return
  }
  if (typeof body !== 'object' || body === null) return
  const fields = body as Record<string, unknown>
  const route = path.split('?')[0]
  if (fields.success === true && typeof fields.id === 'string' && (route === '/run' || route === '/stop')) {
    if (route === '/run') expected.set(fields.id, RUN)
    else expected.delete(fields.id)
  } else if (typeof fields.deleted === 'string') expected.delete(fields.deleted)
  else if (isDeepStrictEqual(Object.keys(fields), ['name', 'spec']) && typeof fields.name === 'string') expected.set(fields.name, fields.spec)
}

/**
 * Reads every stored service back, raw, and checks it with the agent's own validator; the
 * store must hold exactly the specs the API answered with. Returns what is wrong, or undefined.
 */
export async function storeMismatch(store: FuzzStore, expected: ReadonlyMap<string, unknown>): Promise<string | undefined> {
  const stored = await store.raw()
  for (const [name, raw] of stored) {
    try {
      validateServiceName(name)
      const spec = await validateServiceSpec(raw)
      // A stored spec already has its defaults: validating it again must change nothing.
      if (!isDeepStrictEqual(json(spec), json(raw))) return `stored ${name} changes when validated again: ${JSON.stringify(raw).slice(0, 200)}`
    } catch (error) {
      return `stored ${name} fails the agent's validator: ${(error as Error).message.slice(0, 300)}`
    }
  }
  const names = (m: ReadonlyMap<string, unknown>): string[] => [...m.keys()].sort()
  if (!isDeepStrictEqual(names(stored), names(expected))) return `the store holds ${names(stored).join(', ') || 'nothing'}, the API's answers say ${names(expected).join(', ') || 'nothing'}`
  for (const [name, spec] of expected) {
    if (spec === RUN) continue
    if (!isDeepStrictEqual(json(stored.get(name)), json(spec))) return `stored ${name} is ${JSON.stringify(stored.get(name)).slice(0, 200)}, the API answered ${JSON.stringify(spec).slice(0, 200)}`
  }
  return undefined
}

/** A short run summary for logs: seed, counts by class, requests per second. */
export function summary(run: FuzzRun): string {
  const {classes} = run
  return `seed ${run.seed}: ${run.tried} requests in ${(run.ms / 1000).toFixed(1)} s (${(run.tried / (run.ms / 1000)).toFixed(0)}/s): 2xx ${classes['2xx']}, 4xx ${classes['4xx']}, 5xx ${classes['5xx']}, none ${classes.none}, other ${classes.other}; store checked around ${run.sampled}`
}
