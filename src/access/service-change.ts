import type {Etcd3} from 'etcd3'

import {cliOrigin} from '../audit/entry.js'
import {shortSpecHash} from '../hash.js'
import {EtcdStore} from '../agent/store/store-etcd.js'
import {ETCD_PREFIX, rolloutKeys, type RolloutRecord} from '../layout/records.js'
import {openEtcd} from '../etcd/open.js'
import {BerthError, UsageError} from '../errors.js'
import {runFollowing, type ProgressMode} from '../cli/progress.js'
import {validateServiceSpec, type ServiceSpec} from '../spec/service.js'
import {followRollout} from '../scheduler/rollout-follow.js'
import {historyRows, rollbackTarget, updatedSpec, type HistoryRow, type Outcome} from '../scheduler/rollout-view.js'
import {replicatedCount} from '../scheduler/replicated.js'

/**
 * `berth service update`, `rollback` and `history` against the cluster's etcd: a change is
 * a spec put with its revision and audit entry in one transaction (the store does that);
 * then, unless detached, the rollout the leader runs is followed until it ends. Global
 * services are applied by every agent at once (no rollout yet), so there is nothing to follow.
 */

/** What a change did: the revision stored and, when followed, how its rollout ended. */
export interface ChangeResult {
  service: string
  revision: number
  hash: string
  image: string
  outcome?: Outcome
}

/** Where and how a change is made. */
export interface ChangeOptions {
  endpoints: string[]
  prefix?: string
  detach: boolean
  timeoutMs: number
  mode: ProgressMode
}

/** An agent's admin API, as far as a change needs it: a PUT that pins the spec to its image's digest and stores it. */
export interface PinningApi {
  putService(name: string, spec: unknown): Promise<ServiceSpec>
}

/**
 * `service update NAME --image/--env`: stores the changed spec and follows its rollout. A new
 * image is stored through an agent's admin API (`api`), which pins it to the digest its tag
 * names now, as every deploy is: the agent holds the registry's address and the service's
 * pull credentials, the CLI does not. An env change keeps the spec's pin and goes to etcd.
 */
export async function updateService(name: string, change: {image?: string; env?: string[]}, options: ChangeOptions & {api: () => Promise<PinningApi>}): Promise<ChangeResult> {
  return withStore(options, async (store, client) => {
    const current = await currentSpec(store, name)
    const spec = await validateServiceSpec(updatedSpec(current, change), {file: `service update ${name}`})
    if (spec.image === current.image) return putAndFollow(store, client, name, spec, {action: 'service.put', note: 'update'}, options)
    const api = await options.api()
    return putAndFollow(store, client, name, spec, () => api.putService(name, spec), options)
  })
}

/** `service rollback NAME [--to REV]`: stores an older revision's spec as the current one and follows its rollout. */
export async function rollbackService(name: string, to: number | undefined, options: ChangeOptions): Promise<ChangeResult> {
  return withStore(options, async (store, client) => {
    const current = await currentSpec(store, name)
    const target = rollbackTarget(name, await store.revisions(name), shortSpecHash(current), to)
    const spec = await validateServiceSpec(target.spec, {file: `revision ${target.seq} of ${name}`})
    return putAndFollow(store, client, name, spec, {action: 'service.rollback', note: `rollback to ${target.seq}`}, options)
  })
}

/** `service history NAME`: its kept revisions, newest first, and its rollout. */
export async function serviceHistory(name: string, options: Pick<ChangeOptions, 'endpoints' | 'prefix'>): Promise<{revisions: HistoryRow[]; rollout?: RolloutRecord}> {
  return withStore(options, async (store, client) => {
    const current = await currentSpec(store, name)
    const rollout = await client.get(rolloutKeys(name, options.prefix ?? ETCD_PREFIX).rollout).json() as RolloutRecord | null
    return {revisions: historyRows(await store.revisions(name), shortSpecHash(current)), ...(rollout ? {rollout} : {})}
  })
}

/**
 * Stores the spec, into etcd with the CLI's origin and note (`how`) or through `put`, which
 * returns the spec as stored (pinned), and follows its rollout unless detached.
 */
async function putAndFollow(store: EtcdStore, client: Etcd3, name: string, written: ServiceSpec, how: {action: 'service.put' | 'service.rollback'; note: string} | (() => Promise<ServiceSpec>), options: ChangeOptions): Promise<ChangeResult> {
  // The record there before the change: one from an earlier attempt at the same spec must not count as this one's outcome.
  const before = await client.get(rolloutKeys(name, options.prefix ?? ETCD_PREFIX).rollout).json() as RolloutRecord | null
  let spec = written
  if (typeof how === 'function') spec = await how()
  else await store.putService(name, spec, cliOrigin(), how)
  const hash = shortSpecHash(spec)
  const revision = (await store.revisions(name)).findLast((r) => r.hash === hash)?.seq ?? 0
  const result: ChangeResult = {service: name, revision, hash, image: spec.image}
  // A global service is followed too: the leader rolls it across its machines (replicas: 0 has nothing to follow).
  if (options.detach || replicatedCount(spec) === 0) return result
  result.outcome = await runFollowing(`${name}: revision ${revision} (${hash})`, (update) => followRollout(client, name, hash, {fresh: (r) => before === null || r.startedAt !== before.startedAt || r.updatedAt !== before.updatedAt, timeoutMs: options.timeoutMs, progress: update, prefix: options.prefix, global: replicatedCount(spec) === undefined}), options.mode)
  return result
}

async function currentSpec(store: EtcdStore, name: string): Promise<ServiceSpec> {
  const services = await store.services()
  const spec = services.get(name)
  if (!spec) throw new UsageError([{path: name, message: 'is not a desired service', fix: services.size > 0 ? `use one of: ${[...services.keys()].sort().join(', ')}` : 'deploy one first (berth service deploy)'}])
  return spec
}

async function withStore<T>(options: Pick<ChangeOptions, 'endpoints' | 'prefix'>, work: (store: EtcdStore, client: Etcd3) => Promise<T>): Promise<T> {
  const store = new EtcdStore({endpoints: options.endpoints, prefix: options.prefix})
  const client = await openEtcd(options.endpoints)
  try {
    return await work(store, client)
  } finally {
    client.close()
    await store.close()
  }
}

/** The exit of a followed change: a rollout that did not complete is a failure (exit 1), with its reason. */
export function failureOf(result: ChangeResult): BerthError | undefined {
  const outcome = result.outcome
  if (!outcome || outcome.state === 'completed' || outcome.state === 'applied') return undefined
  return new BerthError(`${result.service}: rollout ${outcome.state}: ${outcome.message}`)
}

/**
 * How `update` and `rollback` end: a line saying what was stored and how its rollout went;
 * a rollout that did not complete throws (exit 1); with --json the result is the document
 * and the exit code is 1 (oclif's exit would print an error document after it).
 */
export function endChange(result: ChangeResult, out: {log: (line: string) => void; json: boolean}): ChangeResult {
  out.log(`${result.service}: revision ${result.revision} (${result.hash}, ${result.image})${result.outcome ? `: ${result.outcome.state}: ${result.outcome.message}` : ' stored; a rollout, if any, goes on'}`)
  const failure = failureOf(result)
  if (failure && !out.json) throw failure
  if (failure) process.exitCode = 1
  return result
}
