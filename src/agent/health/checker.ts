import type {ReplicaHealth} from '../../layout/records.js'
import {healthDefaults, MIN_HEALTHY_SECONDS, type HealthCheck} from '../../spec/service.js'
import type {ProbeResult} from './probe.js'

/**
 * One container's health as a state machine, pure and clocked by the caller (times are
 * epoch milliseconds): `starting` → `healthy` on the first pass; `retries` consecutive
 * failures make it `unhealthy`, and failures while it is still starting inside its start
 * period do not count (Docker's rules); any pass makes it healthy again. A service without
 * a check is `starting` until its container has run for MIN_HEALTHY_SECONDS.
 */

/** A check's timing in milliseconds, defaults filled in. */
export interface CheckTiming {
  intervalMs: number
  timeoutMs: number
  retries: number
  startPeriodMs: number
}

/** The timing of a service's check, with {@link healthDefaults} for what it leaves out. */
export function checkTiming(check: HealthCheck | undefined): CheckTiming {
  return {
    intervalMs: (check?.interval ?? healthDefaults.interval) * 1000,
    timeoutMs: (check?.timeout ?? healthDefaults.timeout) * 1000,
    retries: check?.retries ?? healthDefaults.retries,
    startPeriodMs: (check?.startPeriod ?? healthDefaults.startPeriod) * 1000,
  }
}

/** The kind of a check: the one of http, tcp, exec it names, or none. */
export function checkKind(check: HealthCheck | undefined): ReplicaHealth['check'] {
  if (check?.http) return 'http'
  if (check?.tcp) return 'tcp'
  if (check?.exec) return 'exec'
  return 'none'
}

/** The health of one container under a check, fed one probe result at a time. */
export class ReplicaChecker {
  #health: ReplicaHealth

  /** `startedAt` is when the container started (dockerd's State.StartedAt), `now` when it is first seen. */
  constructor(readonly startedAt: number, readonly timing: CheckTiming, now: number, kind: ReplicaHealth['check'] = 'http', container?: string) {
    this.#health = {status: 'starting', since: new Date(Math.max(startedAt, 0) || now).toISOString(), failures: 0, check: kind, ...(container ? {container} : {})}
  }

  /** The current health (a copy). */
  get health(): ReplicaHealth {
    return {...this.#health}
  }

  /** Takes one probe's result, finished at `at`; returns true when the status changed. */
  record(result: ProbeResult, at: number): boolean {
    const before = this.#health.status
    if (result.ok) {
      const {lastError: _, ...rest} = this.#health
      this.#health = {...rest, failures: 0}
      return this.#enter('healthy', at, before)
    }
    this.#health.lastError = result.error ?? 'failed'
    const inStartPeriod = before === 'starting' && at - this.startedAt < this.timing.startPeriodMs
    if (inStartPeriod) return false
    this.#health.failures += 1
    return this.#health.failures >= this.timing.retries ? this.#enter('unhealthy', at, before) : false
  }

  #enter(status: ReplicaHealth['status'], at: number, before: ReplicaHealth['status']): boolean {
    if (status === before) return false
    this.#health.status = status
    this.#health.since = new Date(at).toISOString()
    return true
  }
}

/** The health of a container whose service has no check: healthy once it has run for `minHealthySeconds`. */
export function uncheckedHealth(startedAt: number, now: number, container?: string, minHealthySeconds = MIN_HEALTHY_SECONDS): ReplicaHealth {
  const healthyAt = startedAt + minHealthySeconds * 1000
  const base = {failures: 0, check: 'none' as const, ...(container ? {container} : {})}
  return now >= healthyAt
    ? {status: 'healthy', since: new Date(healthyAt).toISOString(), ...base}
    : {status: 'starting', since: new Date(startedAt).toISOString(), ...base}
}
