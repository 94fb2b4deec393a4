import type {ApplyContext, ServiceOutcome} from './apply.js'
import {applyPlan} from './apply.js'
import type {PassMetrics, PassSeen} from './metrics.js'
import type {NodeOps} from './node-ops.js'
import {observeNode} from './observe.js'
import {plan, type Action, type Desired, type UnitRenderer} from './reconcile.js'
import type {MachineRole, ServiceSpec} from './spec.js'
import {describeAction, driftOf, failingUnits, observedService, type AgentStatus, type PassReport} from './status.js'
import type {DesiredStore} from './store.js'

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
  log?: (line: string) => void
  /** Told of every pass (src/agent/metrics.ts); absent when metrics are off. */
  metrics?: PassMetrics
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

  constructor(readonly deps: LoopDeps) {}

  /**
   * Services this node should run: those whose roles include its role. (No stored service
   * can carry a reserved name such as `agent`: the stores validate names on write and read.)
   */
  async desired(): Promise<{desired: Desired}> {
    const desired = new Map<string, ServiceSpec>()
    for (const [name, spec] of await this.deps.store.services()) if (spec.roles.includes(this.deps.role)) desired.set(name, spec)
    return {desired}
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
      const [{desired}, observed] = await Promise.all([this.desired(), observeNode(this.deps.ops, this.deps.prefix, this.deps.unitDir)])
      seen = {desired, observed}
      const actions = plan(desired, observed, this.deps.prefix, this.deps.render)
      report.actions = actions.map(describeAction)
      report.drift = driftOf(actions)
      const {outcomes, errors} = await applyPlan(actions, {...this.deps, desired})
      const failing = failingUnits(observed, this.deps.prefix, desired.keys())
      for (const [name, why] of failing) outcomes.set(name, {...outcomes.get(name) ?? {actions: []}, ok: false, error: outcomes.get(name)?.error ?? why})
      report.outcomes = Object.fromEntries([...outcomes].sort(([a], [b]) => (a < b ? -1 : 1)))
      report.errors = errors
    } catch (error) {
      // The store or the node could not be read: nothing was planned, the next pass retries.
      report.errors.push((error as Error).message)
    }
    report.converged = report.errors.length === 0 && Object.values(report.outcomes).every((o: ServiceOutcome) => o.ok)
    report.durationMs = Math.round((performance.now() - started) * 10) / 10
    this.#passes += 1
    this.#last = report
    this.deps.metrics?.recordPass(report, seen)
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
    return {machine: this.deps.machine, prefix: this.deps.prefix, passes: this.#passes, lastPass: this.#last, watching: this.#unwatch !== undefined}
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
    const delay = started ? this.deps.checkMs ?? 3000 : report.converged ? this.deps.resyncMs : Math.min(5000, this.deps.resyncMs)
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
