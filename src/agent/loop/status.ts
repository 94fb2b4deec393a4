import type {ServiceOutcome} from '../node/apply.js'
import {containerName} from '../../layout/node.js'
import type {NodeObserved} from '../node/observe.js'
import type {Action} from '../plan/reconcile.js'
import {unitName} from '../../layout/node.js'

/**
 * What the agent reports about itself (`GET /v1/status`, `berth agent sync`): the last pass,
 * each service's outcome, errors that belong to no service, and drift, the services the
 * last pass found out of step with their desired state.
 */

/** One pass, as reported. */
export interface PassReport {
  startedAt: string
  durationMs: number
  /** The plan's actions by kind and target, like `restart berth-web.service`. */
  actions: string[]
  outcomes: Record<string, ServiceOutcome>
  errors: string[]
  /** Services whose units or containers the pass had to change. */
  drift: string[]
  /** True when every service's outcome is ok and the pass had no other error. */
  converged: boolean
}

/** Whether the store answered the last pass, and what was done while it did not. */
export interface StoreState {
  reachable: boolean
  /** When it stopped answering. */
  unreachableSince?: string
  /** When replicas were stopped for want of it (offlineGraceMs after the last contact). */
  replicasStoppedAt?: string
  /** The last read error. */
  error?: string
}

/** What the node runs for a service, as the executor sees it (systemd unit and Docker container). */
export interface ObservedService {
  unit: string
  activeState: string
  containerId?: string
  image?: string
}

/** The agent's status: its last pass and how many passes ran. */
export interface AgentStatus {
  machine: string
  prefix: string
  passes: number
  lastPass?: PassReport
  watching: boolean
  /** Whether the desired-state store answers; an agent cut off from etcd says so here. */
  store?: StoreState
}

/** Describes an action in one short line, for logs and reports (no content, no secret). */
export function describeAction(action: Action): string {
  switch (action.kind) {
    case 'daemonReload': return 'daemon-reload'
    case 'removeContainer': return `removeContainer ${action.container} ${action.id.slice(0, 12)}`
    default: return `${action.kind} ${action.unit}`
  }
}

/** The services a plan touches, sorted: what the pass found out of step. */
export function driftOf(actions: readonly Action[]): string[] {
  return [...new Set(actions.flatMap((a) => (a.kind === 'daemonReload' ? [] : [a.service])))].sort()
}

/**
 * Units in a crash loop or failed: systemd restarts them on its own (Restart=), so the plan
 * sees them as running, yet the service is not up. Reported as the service's error.
 */
export function failingUnits(observed: NodeObserved, prefix: string, services: Iterable<string>): Map<string, string> {
  const failing = new Map<string, string>()
  for (const service of services) {
    const unit = unitName(prefix, service)
    const seen = observed.units.get(unit)
    if (seen && (seen.activeState === 'failed' || seen.subState === 'auto-restart')) {
      failing.set(service, `${unit} is ${seen.activeState}/${seen.subState ?? '?'}: it keeps exiting; see journalctl -u ${unit}`)
    }
  }
  return failing
}

/** One service as the node runs it, from an observation, or undefined when it runs nothing for it. */
export function observedService(observed: NodeObserved, prefix: string, service: string): ObservedService | undefined {
  const unit = unitName(prefix, service)
  const seen = observed.units.get(unit)
  const container = observed.containers.find((c) => c.name === containerName(prefix, service) && c.running)
    ?? observed.containers.find((c) => c.name === containerName(prefix, service))
  if (!seen && !container) return undefined
  return {unit, activeState: seen?.activeState ?? 'absent', containerId: container?.id, image: container?.image}
}
