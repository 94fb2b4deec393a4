import {Counter, Gauge, Histogram, Registry, collectDefaultMetrics} from 'prom-client'

import {containerName} from '../../layout/node.js'
import type {NodeObserved, NodeUnit} from '../node/observe.js'
import type {Desired} from '../plan/reconcile.js'
import type {EtcdTimer} from '../store/store-etcd.js'
import type {PassReport} from './status.js'
import {unitName} from '../../layout/node.js'

/**
 * The agent's Prometheus metrics (prom-client), one registry per agent: its reconcile
 * passes, each service's desired / running / healthy replicas and restarts as the last
 * pass observed them, etcd request latency, and Node's process metrics. The loop, the
 * etcd store and the admin API feed and serve it through the small hooks below.
 */

/** What one pass saw, for the per-service gauges; absent when the pass could not read the store or the node. */
export interface PassSeen {
  desired: Desired
  observed: NodeObserved
}

/** The loop's hook: called once at the end of every pass. */
export interface PassMetrics {
  recordPass(report: PassReport, seen?: PassSeen): void
}

/** Who the agent is, for the info series. */
export interface AgentIdentity {
  machine: string
  role: string
  version: string
}

/**
 * Whether a service's replica on this node counts as healthy: its unit is active and, where
 * the agent runs health checks, the checks say healthy (src/agent/health, the rule rollouts use).
 */
export function replicaHealthy(unit: NodeUnit | undefined, health?: {healthy: boolean}): boolean {
  return unit?.activeState === 'active' && (health?.healthy ?? true)
}

/** The agent's metrics and the registry that serves them. */
export class AgentMetrics implements PassMetrics {
  readonly registry = new Registry()
  readonly #started = Date.now()
  #lastPassEnd?: number
  readonly #passes: Counter<'result'>
  readonly #duration: Histogram
  readonly #desired: Gauge<'service'>
  readonly #running: Gauge<'service'>
  /** Each service's unit as the last pass saw it: the healthy gauge joins it with the checks' verdict at every scrape. */
  #units = new Map<string, NodeUnit | undefined>()
  readonly #unitRestarts: Gauge<'service'>
  readonly #agentRestarts: Counter<'service'>
  readonly #etcd: Histogram<'operation' | 'outcome'>
  /** The health checks' verdict per service, when the agent runs them (runtime.ts connects it). */
  healthOf?: (service: string) => boolean

  constructor(identity: AgentIdentity, readonly prefix: string) {
    const registers = [this.registry]
    // prom-client samples event-loop delay every 10 ms by default: ~0.45 % of a core on an
    // idle agent, measured here. Every 100 ms costs ~0.04 % and still sees every long stall.
    collectDefaultMetrics({register: this.registry, eventLoopMonitoringPrecision: 100})
    new Gauge({name: 'berth_agent_info', help: 'Always 1; the labels name the agent\'s machine, role and version.', labelNames: ['machine', 'role', 'version'], registers})
      .set({...identity}, 1)
    this.#passes = new Counter({name: 'berth_agent_reconcile_passes_total', help: 'Reconcile passes, by result (converged or not_converged).', labelNames: ['result'], registers})
    this.#duration = new Histogram({name: 'berth_agent_reconcile_duration_seconds', help: 'Duration of reconcile passes.', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers})
    const age = (): number => (Date.now() - (this.#lastPassEnd ?? this.#started)) / 1000
    new Gauge({
      name: 'berth_agent_last_pass_age_seconds', help: 'Seconds since the agent\'s last reconcile pass ended (since the agent started, before its first pass).', registers,
      collect() {
        this.set(age())
      },
    })
    const perService = (name: string, help: string): Gauge<'service'> => new Gauge({name, help, labelNames: ['service'], registers})
    this.#desired = perService('berth_service_desired_replicas', 'Replicas of the service this machine should run, as of the last pass (a service is desired here when its roles include this machine\'s role).')
    this.#running = perService('berth_service_running_replicas', 'Replicas of the service whose container is running on this machine, as the last pass observed.')
    // Health changes between passes (a start period ends, a check starts failing), and no pass
    // follows it, so the gauge asks the checks when it is scraped.
    const healthy = (service: string): boolean => replicaHealthy(this.#units.get(service), this.healthOf && {healthy: this.healthOf(service)})
    const units = (): Map<string, NodeUnit | undefined> => this.#units
    new Gauge({
      name: 'berth_service_healthy_replicas', help: 'Replicas of the service that are healthy on this machine (unit active, as the last pass observed, and health checks passing now).', labelNames: ['service'], registers,
      collect() {
        this.reset()
        for (const service of units().keys()) this.set({service}, healthy(service) ? 1 : 0)
      },
    })
    this.#unitRestarts = perService('berth_service_unit_restarts', 'systemd\'s NRestarts of the service\'s unit: automatic restarts since it was last started by hand.')
    this.#agentRestarts = new Counter({name: 'berth_service_agent_restarts_total', help: 'Restarts of the service\'s unit the agent carried out (a changed spec or image).', labelNames: ['service'], registers})
    // No rollouts exist yet: the family is registered so dashboards can refer to it, with no series.
    perService('berth_service_rollout_progress_ratio', 'Share of the service\'s replicas updated by the rollout in progress, 0 to 1 (no series until rollouts exist).')
    this.#etcd = new Histogram({name: 'berth_etcd_request_duration_seconds', help: 'Duration of the desired-state store\'s etcd requests, by operation and outcome (ok or error).', labelNames: ['operation', 'outcome'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers})
  }

  /** Records one pass: its count, duration and result, and what it saw of each service. */
  recordPass(report: PassReport, seen?: PassSeen): void {
    this.#lastPassEnd = Date.now()
    this.#passes.inc({result: report.converged ? 'converged' : 'not_converged'})
    this.#duration.observe(report.durationMs / 1000)
    for (const [service, outcome] of Object.entries(report.outcomes)) {
      const restarts = outcome.actions.filter((a) => a === 'restart').length
      if (restarts > 0) this.#agentRestarts.inc({service}, restarts)
    }
    if (seen) this.#recordServices(seen)
  }

  /** Times one etcd request. */
  readonly etcdTimer: EtcdTimer = (operation, seconds, ok) => {
    this.#etcd.observe({operation, outcome: ok ? 'ok' : 'error'}, seconds)
  }

  /** The exposition text and its content type (`text/plain; version=0.0.4`). */
  async render(): Promise<{contentType: string; body: string}> {
    return {contentType: this.registry.contentType, body: await this.registry.metrics()}
  }

  /** Replaces every per-service series with what this pass saw, so removed services disappear. */
  #recordServices({desired, observed}: PassSeen): void {
    const services = new Set(desired.keys())
    // A unit with the prefix that is no longer desired is still shown (desired 0) until it is gone.
    for (const unit of observed.units.keys()) services.add(unit.slice(this.prefix.length, -'.service'.length))
    for (const gauge of [this.#desired, this.#running, this.#unitRestarts]) gauge.reset()
    this.#units = new Map()
    for (const service of services) {
      const unit = observed.units.get(unitName(this.prefix, service))
      const running = observed.containers.some((c) => c.name === containerName(this.prefix, service) && c.running)
      this.#desired.set({service}, desired.has(service) ? 1 : 0)
      this.#running.set({service}, running ? 1 : 0)
      this.#units.set(service, unit)
      if (unit?.restarts !== undefined) this.#unitRestarts.set({service}, unit.restarts)
    }
  }
}
