import type {ReplicaHealth} from '../../layout/records.js'
import {updatePolicy, type ServiceSpec} from '../../spec/service.js'
import {serviceOfReplica} from '../../scheduler/types.js'

/**
 * Draining a copy before the agent stops it, as pure rules over a clock. Before a pass
 * stops or restarts a copy for a spec change, a removal, a move or a scale-down, the copy
 * drains: balancers are told it is not ready (the agent-check answers `drain`, the
 * readiness route 503) while it keeps serving what it has, and the pass holds its stop back.
 * A later pass stops it once the drain is over: after the spec's `update.drainSeconds`, and
 * once every balancer that asks about the service has been told `drain` since the drain
 * began (so a local HAProxy costs one agent-check interval, not a fixed sleep), but never
 * later than {@link DRAIN_CAP_MS} past the drain time, so a balancer that stopped asking
 * cannot hold a stop for ever. A crash or the node's own shutdown never drains: there is
 * nothing left to serve, or no time.
 */

/** One copy draining before its stop. */
export interface Drain {
  /** The service the copy belongs to (`web` for the replica `web.2`): what balancers ask about. */
  service: string
  /** When the drain began, epoch ms. */
  since: number
  /** Its earliest end: since + drainSeconds. */
  until: number
  /** Its latest end, whatever the balancers do. */
  cap: number
}

/** A balancer's last question about one service, and what it was told. */
export interface Ask {
  /** Who asked (its address). */
  asker: string
  service: string
  at: number
  answer: Readiness
}

/** What a balancer is told about a service on this machine. */
export type Readiness = 'ready' | 'drain'

/** The port a node's agent serves HAProxy's agent-check on (the admin API's 8443, plus one); the local cluster's balancer asks there. */
export const AGENT_CHECK_PORT = 8444

/** A balancer counts as asking about a service when its last question is this recent (HAProxy's agent-inter is 2 s by default). */
export const ASKED_RECENTLY_MS = 10_000

/** How long past its drain time a drain may wait for balancers that asked before and have not asked again. */
export const DRAIN_CAP_MS = 10_000

/** Whether stopping a copy of this spec must wait for a drain: it has a drain time, or a balancer asks about its service. */
export function needsDrain(service: string, spec: Pick<ServiceSpec, 'update'> | undefined, asks: readonly Ask[], now: number): boolean {
  return drainMs(spec) > 0 || asks.some((a) => a.service === service && now - a.at <= ASKED_RECENTLY_MS)
}

/** A drain that begins now. */
export function beginDrain(copy: string, spec: Pick<ServiceSpec, 'update'> | undefined, now: number): Drain {
  const until = now + drainMs(spec)
  return {service: serviceOfReplica(copy), since: now, until, cap: until + DRAIN_CAP_MS}
}

/** True once a drain may end: its time is up and every balancer asking about the service was told `drain` since it began, or its cap is reached. */
export function drainOver(drain: Drain, asks: readonly Ask[], now: number): boolean {
  if (now >= drain.cap) return true
  if (now < drain.until) return false
  return asks.filter((a) => a.service === drain.service && now - a.at <= ASKED_RECENTLY_MS).every((a) => a.answer === 'drain' && a.at >= drain.since)
}

/** What one pass does about the copies it would stop: which stops it holds back, which drains begin and end. */
export interface DrainStep {
  /** The drains after this pass. */
  drains: Map<string, Drain>
  /** Copies whose stop or restart waits for a later pass. */
  hold: Set<string>
  began: string[]
  ended: string[]
}

/**
 * One pass's drain decisions. `stopping` holds the copies the plan would stop or restart,
 * with the spec that says how long to drain (the desired one, or the last one known for a
 * copy that is no longer desired). A drain whose copy is no longer being stopped (the
 * change was undone, the container is gone) is dropped: the copy is ready again.
 */
export function stepDrains(current: ReadonlyMap<string, Drain>, stopping: ReadonlyMap<string, Pick<ServiceSpec, 'update'> | undefined>, asks: readonly Ask[], now: number): DrainStep {
  const step: DrainStep = {drains: new Map(), hold: new Set(), began: [], ended: []}
  for (const [copy, spec] of [...stopping].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const known = current.get(copy)
    if (known && drainOver(known, asks, now)) {
      step.ended.push(copy)
      continue
    }
    if (!known && !needsDrain(serviceOfReplica(copy), spec, asks, now)) continue
    if (!known) step.began.push(copy)
    step.drains.set(copy, known ?? beginDrain(copy, spec, now))
    step.hold.add(copy)
  }
  return step
}

/** When a pass should look at the drains again (ms from now): at the nearest drain time or cap; undefined without drains. */
export function nextDrainCheck(drains: ReadonlyMap<string, Drain>, now: number): number | undefined {
  const due = [...drains.values()].map((d) => (now < d.until ? d.until : d.cap) - now)
  return due.length === 0 ? undefined : Math.max(0, Math.min(...due))
}

/**
 * What balancers are told about a service from the health of its copies on this machine:
 * `ready` only when some copy is healthy and none drains, so no request reaches a copy
 * that is about to stop or has not passed its check since it started.
 */
export function readiness(copies: readonly (ReplicaHealth | undefined)[]): Readiness {
  const known = copies.filter((h): h is ReplicaHealth => h !== undefined)
  return known.some((h) => h.status === 'healthy') && !known.some((h) => h.status === 'draining') ? 'ready' : 'drain'
}

function drainMs(spec: Pick<ServiceSpec, 'update'> | undefined): number {
  return Math.round(updatePolicy(spec ?? {}).drainSeconds * 1000)
}
