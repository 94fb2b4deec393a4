import type {Campaign, Etcd3, IOperation} from 'etcd3'

import type {ServiceSpec} from '../spec/service.js'
import {assignmentKey, ETCD_PREFIX, machineKeys, machinesDir, parseMachineKey, type PendingRecord, revisionsDir, rolloutKeys, rolloutsDir, schedulerKeys, servicesDir} from '../layout/records.js'
import {DeposedError, Leadership} from './leadership.js'
import {assignmentWrites, machineStates, machineViews, type MissingSince, storedAssignments} from './inputs.js'
import {commitRollbacks} from './rollback.js'
import {placeAndRoll, rolloutRecords} from './rollouts.js'
import type {Assignment, MachineView, Plan, ServiceDemand} from './types.js'

/**
 * The scheduler's etcd wiring. The agents of main machines campaign in one etcd election
 * (`<prefix>/scheduler/election/leader/<lease>`); the one elected reads the desired
 * services, the machines and the current assignments, asks the pure placement for a plan
 * and writes it, every write in a transaction fenced by its leadership: it succeeds only
 * while the leader's own election key still exists with the create revision it had when it
 * was elected. A deposed leader (its lease expired in a partition, or it was killed and
 * replaced) can therefore never overwrite its successor's assignments.
 */

/** The pure placement (src/scheduler/placement.ts), injected so the wiring is tested on its own. */
export type PlaceFn = (demands: ServiceDemand[], machines: MachineView[], current: Assignment[]) => Plan
/** A service's demand from its spec (src/scheduler/demand.ts). */
export type DemandFn = (name: string, spec: ServiceSpec) => ServiceDemand

/** What the leader needs. */
export interface LeaderOptions {
  client: Etcd3
  prefix?: string
  /** This candidate's name (the machine), proclaimed as the election's value. */
  machine: string
  /** The validated desired services (the agent's store). */
  services: () => Promise<Map<string, ServiceSpec>>
  place: PlaceFn
  demandOf: DemandFn
  /** How long a machine's agent record may be gone before its replicas are placed elsewhere. */
  lostAfterMs: number
  /** The election lease's TTL: how long a dead leader blocks its successor. */
  ttlSeconds?: number
  /** A full pass at least this often, whatever the watch says. */
  resyncMs?: number
  /** Most operations per transaction (etcd's --max-txn-ops defaults to 128). */
  maxOpsPerTxn?: number
  log?: (line: string) => void
}

/** What one placement pass did. */
export interface PlacementPass {
  puts: number
  deletes: number
  pending: number
  lost: string[]
  /** A machine is missing but not yet lost: look again this soon. */
  recheckInMs?: number
}

/** One candidate: campaigns, and while elected places replicas on every change. */
export class SchedulerCandidate {
  readonly prefix: string
  #campaign?: Campaign
  #leadership?: Leadership
  #running = false
  #inFlight?: Promise<void>
  #again = false
  #timer?: NodeJS.Timeout
  /** When the requested pass is due (Date.now() ms); unset while the timer is the resync's. */
  #due?: number
  #cancelWatch?: () => Promise<void>
  readonly #missing: MissingSince = new Map()
  /** A rollout waits for health: agents' records wake the leader while it does. */
  #rolling = false
  /** Called after every placement pass (tests and the bench wait on it). */
  onPass?: (pass: PlacementPass) => void
  /** Called between the transactions of one pass (a test kills the leader there). */
  betweenTransactions?: () => Promise<void>

  constructor(readonly options: LeaderOptions) {
    this.prefix = options.prefix ?? ETCD_PREFIX
  }

  /** True while this candidate is the elected leader. */
  get leading(): boolean {
    return this.#leadership !== undefined
  }

  /** The leadership, while elected. */
  get leadership(): Leadership | undefined {
    return this.#leadership
  }

  /** Starts campaigning; returns at once (election happens in the background). */
  start(): void {
    this.#running = true
    this.#campaignOnce()
  }

  /** Resigns (a successor is elected at once) and stops. */
  async stop(): Promise<void> {
    this.#running = false
    clearTimeout(this.#timer)
    await this.#inFlight
    await this.#stepDown()
    await this.#campaign?.resign().catch(() => undefined)
  }

  /**
   * Asks for a placement pass within `delayMs` (coalesced); only the leader places. Requests
   * join a pass already due sooner, so a burst of events is one pass and a request for a pass
   * at once is never pushed back by a later, lazier one.
   */
  requestPass(delayMs = 50): void {
    if (!this.#leadership) return
    if (this.#inFlight) {
      this.#again = true
      return
    }
    const due = Date.now() + delayMs
    if (this.#due !== undefined && this.#due <= due) return
    clearTimeout(this.#timer)
    this.#due = due
    this.#timer = setTimeout(() => {
      this.#due = undefined
      this.#inFlight = this.#drain()
    }, delayMs)
    this.#timer.unref?.()
  }

  /** One placement pass: read, place, write fenced. Throws DeposedError when deposed. */
  async place(leadership: Leadership): Promise<PlacementPass> {
    const {client} = this.options
    const keys = schedulerKeys(this.prefix)
    // A machine seen missing was missing when the reads began: a slow read (a call that met a
    // dead member first) must not push its lost clock later.
    const readAt = Date.now()
    // The pending list is read with the rest: only the leader writes it, so it cannot change
    // while this pass plans, and a read after planning was one more round trip on every pass.
    const [services, machineValues, assignmentValues, revisionValues, rolloutValues, before] = await Promise.all([
      this.options.services(),
      client.getAll().prefix(machinesDir(this.prefix)).strings(),
      client.getAll().prefix(keys.assignments).strings(),
      client.getAll().prefix(revisionsDir(this.prefix)).strings(),
      client.getAll().prefix(rolloutsDir(this.prefix)).strings(),
      client.get(keys.pending).json().catch(() => null) as Promise<PendingRecord | null>,
    ])
    // Global services too: the leader names the revision each machine's copy runs, so a change rolls across machines as it does across replicas.
    const placed = [...services]
    const {views, lost, recheckInMs, marks} = machineViews(machineStates(machineValues, this.prefix), this.#missing, readAt, this.options.lostAfterMs)
    const current = storedAssignments(assignmentValues, this.prefix)
    const records = rolloutRecords(rolloutValues, this.prefix)
    const stored = current.map(({replica, service, machine}) => ({replica, service, machine}))
    const {plan, rollouts} = placeAndRoll(placed, (demands) => this.options.place(demands, views, stored), this.options.demandOf, current, {revisions: revisionValues, rollouts: records, machines: machineValues}, Date.now(), this.prefix)
    this.#rolling = rollouts.active
    for (const line of rollouts.logs) this.options.log?.(`scheduler: ${line}`)
    const writes = assignmentWrites(current, plan, rollouts.hashes, new Date().toISOString())
    const pending: PendingRecord = {at: new Date().toISOString(), leader: this.options.machine, pending: plan.pending}
    const ops: IOperation[] = [
      // Rollout records first: a leader killed between transactions leaves a batch its successor moves again, never a moved replica no batch gates.
      ...rollouts.records.map((r) => client.put(rolloutKeys(r.service, this.prefix).rollout).value(JSON.stringify(r))),
      ...writes.deletes.map((d) => client.delete().key(assignmentKey(d.service, d.replica, this.prefix))),
      ...writes.puts.map((p) => client.put(assignmentKey(p.service, p.replica, this.prefix)).value(JSON.stringify(p.record))),
      ...marks.put.map(([m, since]) => client.put(machineKeys(m, this.prefix).missing).value(JSON.stringify({since: new Date(since).toISOString()}))),
      ...marks.delete.map((m) => client.delete().key(machineKeys(m, this.prefix).missing)),
    ]
    const pendingText = JSON.stringify(pending.pending)
    // The pending list is written last: a leader killed in between leaves it stale, and its successor writes it again.
    if (JSON.stringify(before?.pending ?? null) !== pendingText) ops.push(client.put(keys.pending).value(JSON.stringify(pending)))
    const size = this.options.maxOpsPerTxn ?? 100
    for (let at = 0; at < ops.length; at += size) {
      if (at > 0) await this.betweenTransactions?.()
      await leadership.commit(ops.slice(at, at + size))
    }
    await commitRollbacks(leadership, rollouts.rollbacks, this.options.machine, this.prefix)
    const recheck = Math.min(recheckInMs ?? Infinity, rollouts.recheckInMs ?? Infinity)
    const pass = {puts: writes.puts.length, deletes: writes.deletes.length, pending: plan.pending.length, lost, recheckInMs: Number.isFinite(recheck) ? recheck : undefined}
    if (writes.puts.length + writes.deletes.length > 0) this.options.log?.(`scheduler: placed ${writes.puts.length}, removed ${writes.deletes.length}, ${plan.pending.length} pending${lost.length > 0 ? `; lost machines: ${lost.join(', ')}` : ''}`)
    return pass
  }

  #campaignOnce(): void {
    if (!this.#running) return
    const election = this.options.client.namespace(schedulerKeys(this.prefix).namespace).election(schedulerKeys(this.prefix).election, this.options.ttlSeconds ?? 10)
    const campaign = election.campaign(this.options.machine)
    this.#campaign = campaign
    campaign.on('elected', () => void this.#lead(campaign).catch((error: Error) => this.#lose(campaign, error)))
    campaign.on('error', (error: Error) => this.#lose(campaign, error))
  }

  async #lead(campaign: Campaign): Promise<void> {
    const key = await campaign.getCampaignKey()
    const kv = (await this.options.client.get(key).exec()).kvs[0]
    if (!kv || this.#campaign !== campaign) throw new DeposedError(`scheduler: elected, but ${key} is gone already`)
    this.#leadership = new Leadership(this.options.client, key, String(kv.create_revision))
    this.options.log?.(`scheduler: ${this.options.machine} leads (${key}, revision ${kv.create_revision})`)
    this.#cancelWatch = await this.#watch()
    this.requestPass(0)
  }

  #lose(campaign: Campaign, error: Error): void {
    if (this.#campaign !== campaign) return
    this.options.log?.(`scheduler: campaign of ${this.options.machine} ended: ${error.message.split('\n')[0]}; campaigning again`)
    this.#campaign = undefined
    void this.#stepDown().then(() => campaign.resign().catch(() => undefined)).finally(() => {
      if (this.#running) setTimeout(() => this.#campaignOnce(), 1000).unref?.()
    })
  }

  async #stepDown(): Promise<void> {
    this.#leadership = undefined
    clearTimeout(this.#timer)
    this.#due = undefined
    await this.#cancelWatch?.().catch(() => undefined)
    this.#cancelWatch = undefined
  }

  async #drain(): Promise<void> {
    let recheckInMs: number | undefined
    try {
      do {
        this.#again = false
        const leadership = this.#leadership
        if (!leadership) break
        const pass = await this.place(leadership)
        recheckInMs = pass.recheckInMs
        this.onPass?.(pass)
      } while (this.#again && this.#leadership)
    } catch (error) {
      if (error instanceof DeposedError && this.#campaign) this.#lose(this.#campaign, error)
      else this.options.log?.(`scheduler: placement failed: ${(error as Error).message.split('\n')[0]}; trying again`)
      this.#inFlight = undefined
      if (!(error instanceof DeposedError)) this.requestPass(1000)
      return
    }
    this.#inFlight = undefined
    if (this.#again) this.requestPass()
    else if (this.#leadership) {
      clearTimeout(this.#timer)
      this.#timer = setTimeout(() => this.requestPass(0), Math.min(this.options.resyncMs ?? 30_000, recheckInMs === undefined ? Infinity : recheckInMs + 10))
      this.#timer.unref?.()
    }
  }

  /** Wakes on what placement depends on: specs, assignments changed by others, agents appearing or going, drains, facts. */
  async #watch(): Promise<() => Promise<void>> {
    const watcher = await this.options.client.watch().prefix(`${this.prefix}/`).create()
    const relevant = (kv: {key: Buffer; version?: string}, put: boolean): boolean => {
      const key = kv.key.toString()
      if (key.startsWith(servicesDir(this.prefix)) || key.startsWith(schedulerKeys(this.prefix).assignments)) return true
      const m = parseMachineKey(key, this.prefix)
      // An agent rewrites its record after every pass; only its coming and going matter here.
      return m !== undefined && (m.kind === 'drain' || m.kind === 'facts' || (m.kind === 'agent' && (!put || kv.version === '1' || this.#rolling)))
    }
    // A spec change is what a person waits on (change → running): its pass starts at once.
    // Everything else waits 50 ms, so an agent's records and the leader's own writes coalesce.
    const delay = (kv: {key: Buffer}): number => (kv.key.toString().startsWith(servicesDir(this.prefix)) ? 0 : 50)
    watcher.on('put', (kv) => relevant(kv, true) && this.requestPass(delay(kv)))
    watcher.on('delete', (kv) => relevant(kv, false) && this.requestPass(delay(kv)))
    watcher.on('connected', () => this.requestPass())
    watcher.on('error', () => undefined)
    return () => watcher.cancel()
  }
}
