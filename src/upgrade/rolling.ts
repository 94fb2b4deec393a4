import {randomBytes} from 'node:crypto'

import type {RollingUpgradeRecord} from '../layout/records.js'
import {rollingUpgradeKey} from '../layout/records.js'
import type {Cluster} from '../config/types.js'
import {BerthError, UsageError} from '../errors.js'
import type {MachineShells} from '../machine/shell.js'
import {type BalancerHooks, targetImage, upgradeMachineSteps} from './machine.js'
import {orderOf, planWaves, type Wave} from './plan.js'
import {describeRecord, finishRecord, isUnfinished, markDone, markFailed, remaining, resumeRecord, startRecord} from './progress.js'
import type {SharedEtcd} from '../etcd/client.js'

/** What `cluster rolling-upgrade` is asked to do. */
export interface RollingRequest {
  cluster: Cluster
  image?: string
  maxParallel: number
  mode: 'start' | 'resume' | 'abandon'
  /** Only plan: nothing is changed, not even the record. */
  dryRun: boolean
  /** The flow's machines, one connection each for the whole upgrade; the caller closes them. */
  machines: MachineShells
  /** The flow's one etcd client, for the record and every machine's steps and gate; the caller closes it. */
  etcd: SharedEtcd
  etcdPrefix: string
  balancer?: BalancerHooks
  timeoutMs: number
  /** One line of progress: `main-2: Stop services… done (1.2 s)`. */
  log: (line: string) => void
}

/** What a run did, or would do with `plan`. */
export interface RollingResult {
  id: string
  image: string
  waves: Wave[]
  done: string[]
  finished: boolean
}

/** A machine's upgrade failed; the record in etcd says where, and `--resume` continues. */
export class RollingUpgradeStopped extends BerthError {}

/**
 * Runs (or plans) a rolling upgrade: waves from src/upgrade/plan.ts, each machine through
 * upgrade-machine's steps and health gate, progress kept in etcd after every machine. The
 * first failure stops it: machines already running in the same wave finish, later waves are
 * not touched, and the record names the machine, the step and the reason.
 */
export async function rollingUpgrade(request: RollingRequest): Promise<RollingResult> {
  const {cluster} = request
  const key = rollingUpgradeKey(request.etcdPrefix)
  const store = await (await request.etcd.client()).records()
  const revision = await store.revision(key)
  const existing = await store.get<RollingUpgradeRecord>(key)
  let record: RollingUpgradeRecord
  if (request.mode === 'abandon') {
    if (request.dryRun) throw new UsageError([{path: '--abandon', message: 'cannot be combined with --dry-run'}])
    if (!isUnfinished(existing)) throw new UsageError([{path: '--abandon', message: 'there is no unfinished rolling upgrade', fix: 'start one without --abandon'}])
    record = finishRecord({...existing, failed: existing.failed ?? {machine: '', step: 'abandoned', reason: 'abandoned by the operator'}})
    await store.put(key, record)
    return {id: record.id, image: record.image, waves: [], done: record.done, finished: false}
  }
  if (request.mode === 'resume') {
    if (!isUnfinished(existing)) throw new UsageError([{path: '--resume', message: 'there is no unfinished rolling upgrade to resume', fix: 'start one without --resume'}])
    if (request.image && targetImage(cluster, request.image) !== existing.image) throw new UsageError([{path: '--image', message: `the unfinished upgrade installs ${existing.image}`, fix: 'resume without --image, or --abandon it first'}])
    record = resumeRecord(existing)
  } else {
    if (isUnfinished(existing)) throw new UsageError([{message: `${describeRecord(existing)}`, fix: 'continue it with --resume, or drop it with --abandon'}])
    const waves = planWaves(cluster.machines, request.maxParallel)
    record = startRecord(randomBytes(4).toString('hex'), targetImage(cluster, request.image), orderOf(waves))
  }
  // Machines added since the plan was made are not in it; removed ones are skipped.
  const known = cluster.machines.filter((m) => remaining(record).includes(m.name))
  const waves = planWaves(known, request.maxParallel)
  if (request.dryRun) return {id: record.id, image: record.image, waves, done: record.done, finished: false}
  // Compare-and-swap: two operators starting (or resuming) at once cannot both proceed.
  if (!(await store.swap(key, revision, record))) throw new UsageError('another rolling upgrade changed its record just now; see it with --dry-run --resume, then --resume or --abandon')

  for (const wave of waves) {
    request.log(`wave ${wave.index} (${wave.role}): ${wave.machines.join(', ')}`)
    const outcomes = await Promise.all(wave.machines.map((machine) => upgradeOne(request, record.image, machine)))
    for (const [i, failure] of outcomes.entries()) {
      if (!failure) record = markDone(record, wave.machines[i]!)
    }
    const failed = outcomes.find((o) => o !== undefined)
    if (failed) record = markFailed(record, failed)
    await store.put(key, record)
    if (failed) throw new RollingUpgradeStopped(`rolling upgrade stopped at ${failed.machine}, step "${failed.step}": ${failed.reason}; ${record.done.length} of ${record.order.length} machines done; fix it and run again with --resume`)
  }
  record = finishRecord(record)
  await store.put(key, record)
  return {id: record.id, image: record.image, waves, done: record.done, finished: true}
}

/** Upgrades one machine step by step; returns where and why it failed, or undefined. */
async function upgradeOne(request: RollingRequest, image: string, machine: string): Promise<RollingUpgradeRecord['failed']> {
  const {steps} = upgradeMachineSteps({...request, machine, image})
  for (const step of steps) {
    const started = performance.now()
    try {
      const note = await step.run()
      request.log(`${machine}: ${step.title}: ${note ? `${note} ` : ''}(${((performance.now() - started) / 1000).toFixed(1)} s)`)
    } catch (error) {
      request.log(`${machine}: ${step.title}: FAILED`)
      return {machine, step: step.title, reason: (error as Error).message}
    }
  }
  return undefined
}
