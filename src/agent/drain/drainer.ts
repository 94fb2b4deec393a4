import type {ServiceSpec} from '../../spec/service.js'
import {ASKED_RECENTLY_MS, nextDrainCheck, stepDrains, type Ask, type Drain, type Readiness} from './drain.js'

/**
 * The agent's drains and the balancers' questions, between passes: the loop asks it which
 * stops to hold back, the health monitor which copies drain, the agent-check and the
 * readiness route what to answer. The rules are ./drain.ts; this only keeps the state.
 */
export class Drainer {
  #drains = new Map<string, Drain>()
  readonly #asks = new Map<string, Ask>()
  readonly #now: () => number

  /** `onAsked` is told when a balancer was told `drain` about a service that drains here (a drain may be over: the loop passes again). */
  constructor(options: {now?: () => number; onAsked?: () => void; log?: (line: string) => void} = {}) {
    this.#now = options.now ?? Date.now
    this.onAsked = options.onAsked
    this.log = options.log
  }

  onAsked?: () => void
  log?: (line: string) => void

  /** One pass's decisions over the copies it would stop or restart (with the spec that sets their drain time); returns the copies to hold back. */
  step(stopping: ReadonlyMap<string, Pick<ServiceSpec, 'update'> | undefined>): Set<string> {
    const now = this.#now()
    const step = stepDrains(this.#drains, stopping, this.asks(now), now)
    this.#drains = step.drains
    for (const copy of step.began) this.log?.(`drain: ${copy} drains before its stop (balancers are told it is not ready)`)
    for (const copy of step.ended) this.log?.(`drain: ${copy} drained; stopping it`)
    return step.hold
  }

  /** The drain of a copy, if it drains. */
  draining(copy: string): Drain | undefined {
    return this.#drains.get(copy)
  }

  /** Milliseconds until a pass should look at the drains again; undefined without drains. */
  nextCheck(): number | undefined {
    return nextDrainCheck(this.#drains, this.#now())
  }

  /** Remembers that a balancer asked about a service and what it was told (`answer`, from the copies' health: the monitor's `readiness`); returns the answer. */
  told(asker: string, service: string, answer: Readiness): Readiness {
    const now = this.#now()
    this.#asks.set(`${asker} ${service}`, {asker, service, at: now, answer})
    // Bounded by the balancers and services that asked recently: older questions are forgotten.
    if (this.#asks.size > 256) for (const [key, ask] of this.#asks) if (now - ask.at > ASKED_RECENTLY_MS) this.#asks.delete(key)
    if (answer === 'drain' && [...this.#drains.values()].some((d) => d.service === service)) this.onAsked?.()
    return answer
  }

  /** The balancers' recent questions. */
  asks(now = this.#now()): Ask[] {
    return [...this.#asks.values()].filter((a) => now - a.at <= ASKED_RECENTLY_MS)
  }
}
