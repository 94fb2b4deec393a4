import assert from 'node:assert/strict'

/**
 * Helpers shared by the store, secrets and API tests: the real servers' addresses and a
 * way to wait for a watch callback.
 */

/** The URL a test component listens on; fails, saying how to start it, when it is not set. */
export function testService(name: 'BERTH_TEST_ETCD' | 'BERTH_TEST_PG'): string {
  const value = process.env[name]
  assert.ok(value, `${name} is not set: run \`bash scripts/services.sh start\` and \`source <(bash scripts/services.sh env)\` (npm test does both)`)
  return value
}

/** A callback that counts its calls, and a promise for the next call that rejects after `ms`. */
export function callCounter(ms: number): {fn: () => void; next: () => Promise<number>; count: () => number} {
  let count = 0
  let waiter: (() => void) | undefined
  return {
    count: () => count,
    fn: () => {
      count++
      waiter?.()
    },
    next: () => new Promise((resolve, reject) => {
      const start = count
      const timer = setTimeout(() => reject(new Error(`no change reported within ${ms} ms`)), ms)
      waiter = () => {
        if (count > start) {
          clearTimeout(timer)
          resolve(count)
        }
      }
    }),
  }
}

/** Resolves after `ms`. */
export {setTimeout as sleep} from 'node:timers/promises'
