import assert from 'node:assert/strict'
import {createServer, type AddressInfo} from 'node:net'
import path from 'node:path'
import {after} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'
import {execa, type ResultPromise} from 'execa'

import {done, notYet, pollUntil} from '../../src/poll.js'
import {scratch} from '../support/cli.js'

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

/** Polls `test` every 50 ms until it returns a truthy value, which it returns; fails naming `what` and the last value after `ms`. */
export async function until<T>(what: string, test: () => Promise<T | undefined | false> | T | undefined | false, ms = 15_000): Promise<T> {
  return pollUntil(async () => {
    const value = await test()
    return value ? done(value) : notYet(value)
  }, {timeoutMs: ms, intervalMs: 50, retryOn: () => false, onTimeout: (last) => new Error(`gave up waiting until ${what} (last: ${JSON.stringify(last.seen)})`)})
}

/** A TCP port free on loopback now. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** A private single-member etcd a test may stop and start (the shared one must stay up). */
export async function privateEtcd(): Promise<{url: string; start: () => Promise<void>; stop: () => Promise<void>}> {
  const dir = path.join(await scratch('berth-etcd-'), 'data')
  const [client, peer] = [await freePort(), await freePort()]
  const url = `http://127.0.0.1:${client}`
  let proc: ResultPromise | undefined
  const stop = async (): Promise<void> => {
    proc?.kill('SIGTERM')
    await proc?.catch(() => undefined)
    proc = undefined
  }
  after(stop)
  const start = async (): Promise<void> => {
    proc = execa('etcd', ['--name', 'p', '--data-dir', dir, '--listen-client-urls', url, '--advertise-client-urls', url,
      '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
      '--initial-cluster', `p=http://127.0.0.1:${peer}`], {reject: false, stdio: 'ignore'})
    for (let i = 0; i < 100; i++) {
      const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false)
      if (ok) return
      await sleep(100)
    }
    throw new Error(`etcd on ${url} did not become healthy`)
  }
  await start()
  return {url, start, stop}
}
