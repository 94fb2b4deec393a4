import type {ReplicaHealth, RevisionRecord, RolloutRecord} from '../layout/records.js'
import {isHealthy} from '../layout/records.js'
import {shortSpecHash} from '../hash.js'
import {SCHEDULING_FIELDS, updatePolicy, WATCH_FIELDS, type ServiceSpec} from '../spec/service.js'
import {replicatedCount} from './replicated.js'
import {revisionOfHash} from './revisions.js'
import {slotOrder, type Assignment} from './types.js'

/**
 * Rolling updates, pure: for one service, which spec hash each replica's (or, for a global
 * service, each machine's copy's) assignment names this pass, and the rollout record that says how far the roll got. A
 * changed spec moves `update.parallelism` replicas at a time to the new hash; the next
 * batch goes only when every replica of the last one reports healthy from a new container
 * (its agent's record). A batch not healthy by its deadline pauses the rollout, or rolls
 * the service back to the revision before (failureAction). The record lives in etcd, so a
 * new leader continues where the old one stopped. The leader (leader.ts) only reads and
 * writes.
 */

/** What one pass knows about one service. */
export interface RolloutInput {
  service: string
  /** The current (validated) spec and its short hash. */
  spec: ServiceSpec
  /** This pass's placement of the service's replicas. */
  planned: readonly Assignment[]
  /** The hash each replica's stored assignment names, where it stays on the same machine. */
  running: ReadonlyMap<string, string>
  record?: RolloutRecord
  revisions: readonly RevisionRecord[]
  /** A replica's health as its machine's agent last reported it. */
  health: (machine: string, replica: string) => ReplicaHealth | undefined
  now: number
}

/** What the leader writes for the service. */
export interface RolloutDecision {
  /** The hash each planned replica's assignment names. */
  hashes: Map<string, string>
  /** The record to write, when it changed. */
  record?: RolloutRecord
  /** Roll the service back: the leader puts this revision's spec as the service's, with its revision. */
  rollbackTo?: RevisionRecord
  /** A batch is waiting for health: come back by then at the latest. */
  recheckInMs?: number
  /** A rollout is under way: agents' health reports matter to the leader. */
  active: boolean
  /** What happened, for the leader's log. */
  log?: string
}

/**
 * The hash of what decides how a container runs: a change of only scheduling fields (a
 * scale, the update policy) or of what only the leader watches (`autoUpgrade`) restarts
 * nothing, so it does not roll (the fields `docker run` ignores: src/agent/plan/docker-run.ts).
 * A rollout of such a change would wait for new containers that never come, and roll back.
 */
export function runningHash(spec: unknown): string {
  const ignored: readonly string[] = [...SCHEDULING_FIELDS, ...WATCH_FIELDS]
  const running = Object.fromEntries(Object.entries(spec as Record<string, unknown>).filter(([key]) => !ignored.includes(key)))
  return shortSpecHash(running)
}

const terminal = (state: RolloutRecord['state']): boolean => state === 'completed' || state === 'rolled-back'

/** One pass of one service's rollout. */
export function rolloutStep(input: RolloutInput): RolloutDecision {
  const target = shortSpecHash(input.spec)
  const at = new Date(input.now).toISOString()
  const hashes = new Map(input.planned.map((a) => [a.replica, input.running.get(a.replica) ?? target]))
  const outdated = (): Assignment[] => input.planned.filter((a) => hashes.get(a.replica) !== target)
  let record = input.record
  const changed = (next: RolloutRecord): RolloutRecord => (record = {...next, updatedAt: at})

  if (!record || record.to !== target || (terminal(record.state) && outdated().length > 0)) {
    const stale = outdated()
    const revisionsByHash = (hash: string) => revisionOfHash(input.revisions, hash)
    // Nothing to roll, or nothing that restarts a container: every replica names the new hash at once.
    if (stale.length === 0 || stale.every((a) => sameContainer(revisionsByHash(hashes.get(a.replica)!)?.spec, input.spec))) {
      for (const a of stale) hashes.set(a.replica, target)
      return {hashes, active: false}
    }
    const toRevision = revisionsByHash(target)
    const before = toRevision ? input.revisions.findLast((r) => r.seq < toRevision.seq && r.hash !== target) : undefined
    const from = before?.hash ?? mostCommon(stale.map((a) => hashes.get(a.replica)!))
    const superseded = record && !terminal(record.state) && record.to !== target ? `; supersedes the rollout to ${record.to}` : ''
    changed({service: input.service, from, to: target, ...(revisionsByHash(from) ? {fromRevision: revisionsByHash(from)!.seq} : {}), ...(toRevision ? {toRevision: toRevision.seq} : {}), state: 'running', batchesDone: 0, startedAt: at, updatedAt: at, message: `rolling ${stale.length} of ${input.planned.length} replicas${superseded}`})
  }
  const rollout = record!
  if (rollout.state === 'paused' || terminal(rollout.state)) return {hashes, active: false, ...(record !== input.record ? {record} : {})}

  const policy = rollPolicy(input.spec)
  const machineOf = new Map(input.planned.map((a) => [a.replica, a.machine]))
  const healthOf = (replica: string): ReplicaHealth | undefined => machineOf.has(replica) ? input.health(machineOf.get(replica)!, replica) : undefined
  let log: string | undefined
  if (rollout.batch) {
    const batch = rollout.batch
    for (const replica of batch.replicas) if (hashes.has(replica)) hashes.set(replica, target)
    const waiting = batch.replicas.filter((r) => machineOf.has(r) && !healthyNew(healthOf(r), batch.old[r], batch.startedAt, target))
    if (waiting.length > 0) {
      const left = Date.parse(batch.deadline) - input.now
      if (left > 0) return {hashes, active: true, recheckInMs: left, ...(record !== input.record ? {record} : {})}
      const why = `batch ${rollout.batchesDone + 1} (${batch.replicas.join(', ')}) was not healthy within ${policy.healthyDeadline} s: ${waiting.map((r) => `${r} ${describe(healthOf(r), batch.old[r], target)}`).join('; ')}`
      const back = rollout.fromRevision === undefined ? undefined : input.revisions.find((r) => r.seq === rollout.fromRevision)
      if (rollout.state === 'running' && policy.failureAction === 'rollback' && back) {
        changed({service: input.service, from: target, to: back.hash, fromRevision: rollout.toRevision, toRevision: back.seq, state: 'rolling-back', batchesDone: 0, startedAt: at, updatedAt: at, message: `${why}; rolling back to revision ${back.seq}`})
        return {hashes, active: true, record, rollbackTo: back, log: `${input.service}: ${why}; rolling back to revision ${back.seq}`}
      }
      const cannot = rollout.state === 'running' && policy.failureAction === 'rollback' ? '; no kept revision to roll back to' : ''
      changed({...rollout, batch: undefined, state: 'paused', message: `${why}${cannot}; paused (berth service update or rollback to go on)`})
      return {hashes, active: false, record, log: `${input.service}: ${why}; paused`}
    }
    changed({...rollout, batch: undefined, batchesDone: rollout.batchesDone + 1, ...(batch.surge ? {surged: true} : {})})
    log = `${input.service}: batch ${rollout.batchesDone + 1} healthy (${batch.replicas.join(', ')})`
  }

  // start-first: `parallelism` extra copies of the new spec (slots past the count, which the
  // leader places while the rollout runs: surgeOf) are the first batch; only once they are
  // healthy are the old copies replaced, in place, so the count serves throughout.
  if (policy.order === 'start-first' && !record!.surged) {
    const count = replicatedCount(input.spec) ?? input.planned.length
    const extra = input.planned.filter((a) => slotNumber(a.replica) > count)
    if (extra.length === 0) return {hashes, active: true, recheckInMs: 100, ...(record !== input.record ? {record} : {}), log: log ?? `${input.service}: starting ${policy.parallelism} extra ${policy.parallelism === 1 ? 'copy' : 'copies'} of ${target} first`}
    for (const a of extra) hashes.set(a.replica, target)
    changed({...record!, batch: {replicas: extra.map((a) => a.replica), old: {}, startedAt: at, deadline: new Date(input.now + policy.healthyDeadline * 1000).toISOString(), surge: true}})
    return {hashes, active: true, record, recheckInMs: policy.healthyDeadline * 1000, log: `${input.service}: batch ${record!.batchesDone + 1}: ${extra.map((a) => a.replica).join(', ')} (extra) to ${target}`}
  }

  const stale = outdated()
  if (stale.length === 0) {
    const done = rollout.state === 'rolling-back' ? 'rolled-back' : 'completed'
    const message = done === 'completed' ? `all ${input.planned.length} replicas run ${target} in ${record!.batchesDone} batches` : `${rollout.message?.replace(/; rolling back to/, '; rolled back to') ?? 'rolled back'}`
    changed({...record!, state: done, message})
    // A start-first rollout's extra copies go at the next pass, placed without them.
    return {hashes, active: false, record, ...(surgeOf(input.spec, rollout) > 0 ? {recheckInMs: 100} : {}), log: `${input.service}: rollout ${done}: ${message}`}
  }
  // Replicas that are not healthy now go first: a rollback mends the failed batch before it touches the rest.
  const next = [...stale].sort((a, b) => Number(isHealthy(healthOf(a.replica))) - Number(isHealthy(healthOf(b.replica))) || slotOrder(a.replica, b.replica)).slice(0, policy.parallelism)
  const old = Object.fromEntries(next.flatMap((a) => {
    const container = healthOf(a.replica)?.container
    return container ? [[a.replica, container]] : []
  }))
  for (const a of next) hashes.set(a.replica, target)
  changed({...record!, batch: {replicas: next.map((a) => a.replica), old, startedAt: at, deadline: new Date(input.now + policy.healthyDeadline * 1000).toISOString()}})
  return {hashes, active: true, record, recheckInMs: policy.healthyDeadline * 1000, log: `${log ? `${log}; ` : `${input.service}: `}batch ${record!.batchesDone + 1}: ${next.map((a) => a.replica).join(', ')} to ${target}`}
}

/**
 * Healthy under the target revision (when the agent says which it runs), from a container
 * other than the one the replica ran before the batch (or, not knowing that one, healthy
 * since the batch began).
 */
export function healthyNew(health: ReplicaHealth | undefined, oldContainer: string | undefined, batchStartedAt: string, target?: string): boolean {
  if (!isHealthy(health)) return false
  if (target !== undefined && health!.revision !== undefined && health!.revision !== target) return false
  if (oldContainer !== undefined) return health!.container !== undefined && health!.container !== oldContainer
  return Date.parse(health!.since) >= Date.parse(batchStartedAt)
}

/** The slot number of a replica id (`web.3` → 3; 0 when it has none). */
function slotNumber(replica: string): number {
  const slot = Number(replica.slice(replica.lastIndexOf('.') + 1))
  return Number.isInteger(slot) ? slot : 0
}

/**
 * How many copies a service runs beyond its count this pass: `parallelism` while a
 * start-first rollout runs (the new spec's copies that serve while the old ones are
 * replaced), else none. The leader adds them to the service's placement demand.
 */
export function surgeOf(spec: ServiceSpec, record: RolloutRecord | undefined): number {
  const policy = rollPolicy(spec)
  return policy.order === 'start-first' && record !== undefined && (record.state === 'running' || record.state === 'rolling-back') ? policy.parallelism : 0
}

/**
 * The update policy a rollout follows: the spec's, except that a global service rolls
 * stop-first (one copy per machine under one container name: no extra copy can start beside it).
 */
export function rollPolicy(spec: ServiceSpec): ReturnType<typeof updatePolicy> {
  const policy = updatePolicy(spec)
  return replicatedCount(spec) === undefined && policy.order === 'start-first' ? {...policy, order: 'stop-first'} : policy
}

function sameContainer(old: unknown, spec: ServiceSpec): boolean {
  return old !== undefined && runningHash(old) === runningHash(spec)
}

function describe(health: ReplicaHealth | undefined, oldContainer: string | undefined, target: string): string {
  if (!health) return 'reported no health'
  if (health.revision !== undefined && health.revision !== target) return `runs ${health.revision}, not ${target} yet`
  if (health.container !== undefined && health.container === oldContainer) return `still runs its old container ${oldContainer}`
  return `${health.status}${health.lastError ? ` (${health.lastError})` : ''}`
}

function mostCommon(values: readonly string[]): string {
  const counts = new Map<string, number>()
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1)
  return [...counts].sort((a, b) => b[1] - a[1])[0]![0]
}

