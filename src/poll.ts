import {setTimeout as sleep} from 'node:timers/promises'

import {BerthError} from './errors.js'

/** What one look found: the awaited value, or what was seen instead. */
export type Look<T, S> = {done: true; value: T} | {done: false; seen: S}

/** The look that ends a wait with `value`. */
export function done<T>(value: T): {done: true; value: T} {
  return {done: true, value}
}

/** A look that found `seen`, not yet the awaited state. */
export function notYet<S>(seen: S): {done: false; seen: S} {
  return {done: false, seen}
}

/** What the last look before the deadline found: an observation, or the error it threw. */
export type LastLook<S> = {seen: S; error?: undefined} | {seen?: undefined; error: unknown} | {seen?: undefined; error?: undefined}

/** How long and how often `pollUntil` looks, and what it says when it gives up. */
export interface PollOptions<S> {
  timeoutMs: number
  intervalMs: number
  /** What is awaited, for the default timeout message ("etcd healthy"). */
  describe?: string
  /** The error to throw at the deadline, made from the last look. */
  onTimeout?: (last: LastLook<S>) => Error
  /** Whether an error thrown by a look is worth another look; others end the wait at once. Default: every error. */
  retryOn?: (error: unknown) => boolean
  /** Ends the wait early with the signal's reason. */
  signal?: AbortSignal
}

/** The default timeout error: what was awaited, for how long, and the last look. */
export class PollTimeout extends BerthError {
  override readonly retryable = true
}

function describeLast(last: LastLook<unknown>): string {
  if (last.error !== undefined) return last.error instanceof Error ? last.error.message : String(last.error)
  if (last.seen === undefined) return 'nothing seen yet'
  return typeof last.seen === 'string' ? last.seen : JSON.stringify(last.seen)
}

/**
 * Looks with `check` until it reports done, at least once and every `intervalMs`, and
 * returns the value. No look starts after the deadline: at it, throws `onTimeout`'s error
 * (default: a `PollTimeout` naming `describe` and the last observation or error).
 */
export async function pollUntil<T, S = string>(check: () => Promise<Look<T, S>>, options: PollOptions<S>): Promise<T> {
  const deadline = Date.now() + options.timeoutMs
  const retryOn = options.retryOn ?? (() => true)
  let last: LastLook<S> = {}
  for (;;) {
    options.signal?.throwIfAborted()
    try {
      const look = await check()
      if (look.done) return look.value
      last = {seen: look.seen}
    } catch (error) {
      if (!retryOn(error)) throw error
      last = {error}
    }
    const left = deadline - Date.now()
    if (left <= 0) {
      throw options.onTimeout?.(last) ?? new PollTimeout(`${options.describe ?? 'the awaited state'}: not within ${options.timeoutMs / 1000} s (last: ${describeLast(last)})`, {cause: last.error})
    }
    try {
      await sleep(Math.min(options.intervalMs, left), undefined, {signal: options.signal})
    } catch (error) {
      options.signal?.throwIfAborted() // the signal's own reason, not the timer's AbortError
      throw error
    }
  }
}
