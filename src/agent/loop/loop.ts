import type {ApplyContext, ServiceOutcome} from '../node/apply.js'
import {applyPlan} from '../node/apply.js'
import type {PassMetrics, PassSeen} from './metrics.js'
import type {NodeOps} from '../node/node-ops.js'
import {observeNode} from '../node/observe.js'
import {plan, type Action, type Desired, type Observed, type UnitRenderer} from '../plan/reconcile.js'
import {validateServiceSpec, type MachineRole, type ServiceSpec} from '../../spec/service.js'
import type {RevisionRecord} from '../../layout/records.js'
import {revisionOfHash} from '../../scheduler/revisions.js'
import {shortSpecHash} from '../../hash.js'
import {describeAction, driftOf, failingUnits, observedService, type AgentStatus, type PassReport, type StoreState} from './status.js'
import type {DesiredStore} from '../store/store.js'
import {RetryableError} from '../../errors.js'
import {localReplicas, replicatedCount} from '../../scheduler/replicated.js'
import {replicaId} from '../../scheduler/types.js'
import type {Drainer} from '../drain/drainer.js'

/**
 * berth-agent's loop: observe → plan → apply → report → wait for a store change or the
 * resync timer. Level-based, as controller-runtime's reconcile: every pass re-reads the
 * store and the node, so a pass cut short (even by SIGKILL) is completed by the next one. A
 * change that arrives while a pass runs is not lost: one more pass follows at once, however
 * many changes arrived (they coalesce).
 */

/** Everything the loop works with; `runtime.ts` wires the real ones, tests pass fakes. */
export interface LoopDeps extends Omit<ApplyContext, 'desired'> {
  store: DesiredStore
  ops: NodeOps
  render: UnitRenderer
  machine: string
  role: MachineRole
  resyncMs: number
  /** Come back this soon after a pass that started something, to see whether it stayed up. */
  checkMs?: number
  /**
   * How long replicas keep running while the store cannot be reached (a partition): then
   * they are stopped, as the leader will have placed them elsewhere. Global services keep
   * running whatever happens.
   */
  offlineGraceMs?: number
  /** The last time etcd answered anyone in this agent (its lease's keepalives), if known. */
  lastContact?: () => number | undefined
  log?: (line: string) => void
  /** Told of every pass (src/agent/loop/metrics.ts); absent when metrics are off. */
  metrics?: PassMetrics
  /**
   * Given the copies this node should run after each pass that read them (the health
   * monitor's hook), with the revision hash of each replica as its assignment names it, and
   * the copies that drain although no longer desired (with their last spec).
   */
  onDesired?: (desired: Desired, revisions: ReadonlyMap<string, string>) => void
  /** Holds stops back while copies drain from balancers (src/agent/drain/); absent, copies stop at once. */
  drainer?: Drainer
  /** Told of every pass's report as it ends (the machine's record in etcd); not awaited. */
  onPass?: (report: PassReport) => void
}

/** The agent's reconcile loop; one per node. */
export class AgentLoop {
  #passes = 0
  #last?: PassReport
  #inFlight?: Promise<void>
  #again = false
  #timer?: NodeJS.Timeout
  #unwatch?: () => Promise<void>
  #running = false
  #lastStoreOk = Date.now()
  #store: StoreState = {reachable: true}
  /** The copies whose stop the last pass held back while they drain. */
  #holding = new Set<string>()
  /** The spec each copy ran at the last pass: how long a copy that is no longer desired drains. */
  #lastSpecs = new Map<string, ServiceSpec>()
  /** Specs of kept revisions, validated, by `service/hash` (bounded: cleared past 256). */
  readonly #revisionSpecs = new Map<string, ServiceSpec>()

  constructor(readonly deps: LoopDeps) {}

  /**
   * Services this node should run: those whose roles include its role. (No stored service
   * can carry a reserved name such as `agent`: the stores validate names on write and read.)
   */
  async desired(): Promise<{desired: Desired; revisions: Map<string, string>}> {
    const desired = new Map<string, ServiceSpec>()
    const hashes = new Map<string, string>()
    const services = await this.deps.store.services()
    // With a scheduler (etcd), a replicated service runs here as the replicas assigned here;
    // without one the host runs them all. A global service runs on every machine of its
    // roles under its own name, as it always did, at the revision the leader's assignment
    // `<service>.<machine>` names while a change rolls; without one (no leader yet, a file
    // or PostgreSQL store, a machine just joined), at the current spec.
    const assigned = await this.deps.store.assignedTo?.(this.deps.machine)
    const revisions = new Map<string, Promise<RevisionRecord[]>>()
    for (const [name, spec] of services) {
      if (replicatedCount(spec) === undefined) {
        if (!spec.roles.includes(this.deps.role)) continue
        const mine = assigned?.get(replicaId(name, this.deps.machine))
        const running = mine ? await this.#revisionSpec(name, spec, mine.specHash, revisions) : {spec}
        desired.set(name, running.spec)
        if (running.hash) hashes.set(name, running.hash)
      } else if (!assigned) {
        for (const replica of localReplicas(name, spec)) desired.set(replica, spec)
      }
    }
    for (const [replica, {service, specHash}] of assigned ?? []) {
      const spec = services.get(service)
      if (!spec || replicatedCount(spec) === undefined) continue
      const running = await this.#revisionSpec(service, spec, specHash, revisions)
      desired.set(replica, running.spec)
      if (running.hash) hashes.set(replica, running.hash)
    }
    return {desired, revisions: hashes}
  }

  /**
   * The spec an assignment names: the current one, or, while the leader rolls a change (or
   * back), the kept revision of that hash. A hash no longer kept runs the current spec.
   * With it, the short hash of the spec returned (the health monitor's revision), where known
   * without hashing again.
   */
  async #revisionSpec(service: string, current: ServiceSpec, hash: string, cache: Map<string, Promise<RevisionRecord[]>>): Promise<{spec: ServiceSpec; hash?: string}> {
    if (!hash || !this.deps.store.revisions) return {spec: current}
    const currentHash = shortSpecHash(current)
    if (currentHash === hash) return {spec: current, hash}
    // A revision's hash is of its content, so the spec validated for it once stays valid: no read, no validation at later passes.
    const known = this.#revisionSpecs.get(`${service}/${hash}`)
    if (known) return {spec: known, hash}
    if (!cache.has(service)) cache.set(service, this.deps.store.revisions(service))
    const revision = revisionOfHash(await cache.get(service)!, hash)
    if (!revision) return {spec: current, hash: currentHash}
    try {
      const spec = await validateServiceSpec(revision.spec, {file: `revision ${revision.seq} of ${service}`})
      if (this.#revisionSpecs.size >= 256) this.#revisionSpecs.clear()
      this.#revisionSpecs.set(`${service}/${hash}`, spec)
      return {spec, hash}
    } catch (error) {
      this.deps.log?.(`${service}: revision ${revision.seq} no longer validates (${(error as Error).message.split('\n')[0]}); running the current spec`)
      return {spec: current, hash: currentHash}
    }
  }

  /**
   * The store cannot be read: nothing changes, unless the last contact with etcd is older
   * than the offline grace; then the replicas running here are stopped (their units stay,
   * so a pass after etcd is back starts those still assigned here at once).
   */
  async #offline(error: Error, report: PassReport): Promise<void> {
    const now = Date.now()
    this.#store = {...this.#store, reachable: false, unreachableSince: this.#store.unreachableSince ?? new Date(now).toISOString(), error: error.message.split('\n')[0]}
    const last = Math.max(this.#lastStoreOk, this.deps.lastContact?.() ?? 0)
    const grace = this.deps.offlineGraceMs ?? 15_000
    if (now - last < grace) return
    const observed = await observeNode(this.deps.ops, this.deps.prefix, this.deps.unitDir)
    const stops: Action[] = [...observed.units].filter(([unit, seen]) => isReplicaUnit(this.deps.prefix, unit) && seen.activeState !== 'inactive' && seen.activeState !== 'failed')
      .map(([unit]) => ({kind: 'stop', service: unit.slice(this.deps.prefix.length, -'.service'.length), unit}))
    if (stops.length === 0) return
    this.deps.log?.(`store unreachable for ${Math.round((now - last) / 1000)} s (offline grace ${grace / 1000} s): stopping ${stops.length} replicas`)
    const {outcomes} = await applyPlan(stops, {...this.deps, desired: new Map()})
    report.actions.push(...stops.map(describeAction))
    report.outcomes = Object.fromEntries(outcomes)
    this.#store.replicasStoppedAt ??= new Date(now).toISOString()
  }

  /**
   * The pass's plan with the stops of draining copies held back (a second, cheap plan only
   * when something drains), and the copies that drain although no longer desired, with the
   * last spec they ran: they keep their health record, shown as draining.
   */
  #drained(desired: Desired, observed: Observed): {actions: Action[]; held: Map<string, ServiceSpec>} {
    const first = plan(desired, observed, this.deps.prefix, this.deps.render)
    const held = new Map<string, ServiceSpec>()
    if (!this.deps.drainer) return {actions: first, held}
    const stops = first.filter((a): a is Extract<Action, {kind: 'stop' | 'restart'}> => a.kind === 'stop' || a.kind === 'restart')
    const stopping = new Map(stops.map(({service}) => [service, desired.get(service) ?? this.#lastSpecs.get(service)]))
    this.#holding = this.deps.drainer.step(stopping)
    for (const copy of this.#holding) if (!desired.has(copy) && this.#lastSpecs.has(copy)) held.set(copy, this.#lastSpecs.get(copy)!)
    this.#lastSpecs = new Map([...desired, ...held])
    return {actions: this.#holding.size === 0 ? first : plan(desired, observed, this.deps.prefix, this.deps.render, this.#holding), held}
  }

  /** The actions one pass would take now, without taking them (`berth agent sync --dry-run`). */
  async planned(): Promise<Action[]> {
    const {desired} = await this.desired()
    return plan(desired, await observeNode(this.deps.ops, this.deps.prefix, this.deps.unitDir), this.deps.prefix, this.deps.render)
  }

  /** Runs one full pass now and reports it; never throws (a failure is in the report). */
  async pass(): Promise<PassReport> {
    const started = performance.now()
    const startedAt = new Date().toISOString()
    const report: PassReport = {startedAt, durationMs: 0, actions: [], outcomes: {}, errors: [], drift: [], converged: false}
    let seen: PassSeen | undefined
    try {
      const [{desired, revisions}, observed] = await Promise.all([
        this.desired().catch(async (error: Error) => {
          if (error instanceof RetryableError) await this.#offline(error, report)
          throw error
        }),
        observeNode(this.deps.ops, this.deps.prefix, this.deps.unitDir),
      ])
      this.#lastStoreOk = Date.now()
      this.#store = {reachable: true}
      seen = {desired, observed}
      const {actions, held} = this.#drained(desired, observed)
      this.deps.onDesired?.(new Map([...desired, ...held]), revisions)
      report.actions = actions.map(describeAction)
      report.drift = [...new Set([...driftOf(actions), ...this.#holding])].sort()
      const {outcomes, errors} = await applyPlan(actions, {...this.deps, desired})
      for (const copy of this.#holding) outcomes.set(copy, {ok: true, actions: ['drain']})
      const failing = failingUnits(observed, this.deps.prefix, desired.keys())
      for (const [name, why] of failing) outcomes.set(name, {...outcomes.get(name) ?? {actions: []}, ok: false, error: outcomes.get(name)?.error ?? why})
      report.outcomes = Object.fromEntries([...outcomes].sort(([a], [b]) => (a < b ? -1 : 1)))
      report.errors = errors
    } catch (error) {
      // The store or the node could not be read: nothing was planned, the next pass retries.
      report.errors.push((error as Error).message)
    }
    report.converged = report.errors.length === 0 && this.#holding.size === 0 && Object.values(report.outcomes).every((o: ServiceOutcome) => o.ok)
    report.durationMs = Math.round((performance.now() - started) * 10) / 10
    this.#passes += 1
    this.#last = report
    this.deps.metrics?.recordPass(report, seen)
    this.deps.onPass?.(report)
    this.#logReport(report)
    return report
  }

  /** Starts watching the store and runs the first pass; later passes follow changes and the timer. */
  async start(): Promise<void> {
    this.#running = true
    await this.#watch()
    this.requestSync()
  }

  /** Asks for a pass soon; if one is running, exactly one more follows it. Never waits. */
  requestSync(): void {
    if (!this.#running) return
    if (this.#inFlight) {
      this.#again = true
      return
    }
    clearTimeout(this.#timer)
    this.#inFlight = this.#drain()
  }

  /** The last pass, the pass count, and whether the store's watch is up. */
  status(): AgentStatus {
    return {machine: this.deps.machine, prefix: this.deps.prefix, passes: this.#passes, lastPass: this.#last, watching: this.#unwatch !== undefined, store: this.#store}
  }

  /** A fresh observation of one service (for `GET /v1/services/{name}`). */
  async observe(name: string) {
    return observedService(await observeNode(this.deps.ops, this.deps.prefix, this.deps.unitDir), this.deps.prefix, name)
  }

  /** Stops the timer and the watch and waits for a pass in flight to end. */
  async stop(): Promise<void> {
    this.#running = false
    clearTimeout(this.#timer)
    await this.#inFlight
    await this.#unwatch?.().catch(() => undefined)
    this.#unwatch = undefined
  }

  async #drain(): Promise<void> {
    let report: PassReport | undefined
    do {
      this.#again = false
      report = await this.pass()
      if (!this.#unwatch && this.#running) await this.#watch()
    } while (this.#again && this.#running)
    this.#inFlight = undefined
    if (!this.#running) return
    // Come back sooner after a start (did it stay up?) or a failure (retry), else at resync.
    const started = report.actions.some((a) => /^(start|restart) /.test(a))
    // A drain is looked at again at its end; a balancer told `drain` wakes the loop sooner (the drainer's onAsked).
    const delay = Math.min(started ? this.deps.checkMs ?? 3000 : report.converged ? this.deps.resyncMs : Math.min(5000, this.deps.resyncMs), this.deps.drainer?.nextCheck() ?? Infinity)
    this.#timer = setTimeout(() => this.requestSync(), Math.min(delay, this.deps.resyncMs))
    this.#timer.unref?.()
  }

  async #watch(): Promise<void> {
    try {
      this.#unwatch = await this.deps.store.watch(() => this.requestSync())
    } catch (error) {
      // The resync timer keeps the node converging; the watch is tried again after each pass.
      this.deps.log?.(`watch: ${(error as Error).message}; relying on the ${this.deps.resyncMs / 1000} s resync until it works`)
    }
  }

  #logReport(report: PassReport): void {
    if (report.actions.length === 0 && report.converged && this.#passes > 1) return
    const failed = Object.entries(report.outcomes).filter(([, o]) => !o.ok).map(([name, o]) => `${name}: ${o.error}`)
    this.deps.log?.(`pass ${this.#passes}: ${report.actions.length} actions in ${report.durationMs} ms${report.converged ? ', converged' : ''}`)
    for (const line of [...report.actions, ...failed.map((f) => `failed ${f}`), ...report.errors.map((e) => `error ${e}`)]) this.deps.log?.(`  ${line}`)
  }
}

/** True for a replica's unit (`<prefix>web.1.service`): service names hold no dot, so a dot after the prefix names a replica. */
export function isReplicaUnit(prefix: string, unit: string): boolean {
  return unit.startsWith(prefix) && unit.endsWith('.service') && unit.slice(prefix.length, -'.service'.length).includes('.')
}
