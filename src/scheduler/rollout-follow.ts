import type {Etcd3} from 'etcd3'

import {ETCD_PREFIX, rolloutKeys, schedulerKeys, type RolloutRecord} from '../layout/records.js'
import {BerthError} from '../errors.js'
import {storedAssignments} from './inputs.js'
import {outcomeOf, rolloutLine, type Outcome} from './rollout-view.js'

/**
 * Follows a service's change to spec hash `hash` until its rollout ends (the CLI's
 * `service update` and `rollback`): watches the rollout record and the service's
 * assignments, reads both again on every event, and tells each new state to `progress`.
 */
export async function followRollout(client: Etcd3, service: string, hash: string, options: {fresh: (record: RolloutRecord) => boolean; timeoutMs: number; progress: (line: string) => void; prefix?: string; global?: boolean}): Promise<Outcome> {
  const prefix = options.prefix ?? ETCD_PREFIX
  const key = rolloutKeys(service, prefix).rollout
  const dir = `${schedulerKeys(prefix).assignments}${service}/`
  const watchers = await Promise.all([client.watch().key(key).create(), client.watch().prefix(dir).create()])
  let timer: NodeJS.Timeout | undefined
  try {
    return await new Promise<Outcome>((resolve, reject) => {
      let last = ''
      let again = false
      let reading = false
      const check = async (): Promise<void> => {
        if (reading) return void (again = true)
        reading = true
        try {
          do {
            again = false
            const [record, values] = await Promise.all([client.get(key).json() as Promise<RolloutRecord | null>, client.getAll().prefix(dir).strings()])
            const hashes = storedAssignments(values, prefix).map((a) => a.record.specHash)
            const outcome = outcomeOf(hash, record ?? undefined, hashes, options.fresh, options.global)
            if (outcome) return resolve(outcome)
            const line = record && (record.to === hash || record.from === hash) ? rolloutLine(record) : `waiting for the scheduler (${hashes.filter((h) => h === hash).length} of ${hashes.length} replicas on ${hash})`
            if (line !== last) options.progress((last = line))
          } while (again)
        } catch (error) {
          reject(error as Error)
        } finally {
          reading = false
        }
      }
      for (const w of watchers) {
        w.on('put', () => void check())
        w.on('delete', () => void check())
        w.on('connected', () => void check())
        w.on('error', () => undefined)
      }
      timer = setTimeout(() => reject(new BerthError(`${service}: the rollout to ${hash} has not ended after ${Math.round(options.timeoutMs / 1000)} s (${last}); it goes on: berth service history ${service}`)), options.timeoutMs)
      void check()
    })
  } finally {
    clearTimeout(timer)
    await Promise.all(watchers.map((w) => w.cancel().catch(() => undefined)))
  }
}
