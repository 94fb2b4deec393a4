import {setTimeout as sleep} from 'node:timers/promises'
import type {AgentRecord, InstalledRecord} from '../layout/records.js'
import {machineKeys} from '../layout/records.js'
import {BerthError} from '../errors.js'
import type {EtcdCluster} from '../etcd/client.js'
import {type HealthInput, type HealthTarget, healthProblem, isNewer} from './health.js'
import type {RecordStore} from '../etcd/records.js'

/** Where the gate reads from and what it expects. */
export interface GateSources {
  etcd: EtcdCluster
  records: RecordStore
  prefix: string
  expectedMembers: number
}

/** Reads the gate's inputs for one machine; etcd being unreachable is an input, not an error. */
export async function readHealth(sources: GateSources, machine: string): Promise<HealthInput> {
  const keys = machineKeys(machine, sources.prefix)
  const members = await sources.etcd.members().catch((error: Error) => error.message)
  const [installed, agent] = await Promise.all([
    sources.records.get<InstalledRecord>(keys.installed).catch(() => undefined),
    sources.records.get<AgentRecord>(keys.agent).catch(() => undefined),
  ])
  return {machine, members, expectedMembers: sources.expectedMembers, installed, agent}
}

/** The machine did not become healthy in time; the message is the first unmet condition. */
export class UnhealthyError extends BerthError {}

/**
 * Polls until the machine passes the gate, with a short backoff (200 ms growing to 1 s) and
 * no fixed sleep; on timeout throws with the condition still unmet.
 */
export async function waitHealthy(sources: GateSources, machine: string, target: HealthTarget, timeoutMs: number): Promise<string> {
  const started = Date.now()
  for (let delay = 200; ; delay = Math.min(delay * 1.5, 1000)) {
    const input = await readHealth(sources, machine)
    const problem = healthProblem(input, target)
    if (!problem) return `healthy after ${((Date.now() - started) / 1000).toFixed(1)} s`
    // A failed installer will not fix itself: stop waiting at once.
    if (input.installed?.result === 'failed' && isNewer(input.installed, target)) throw new UnhealthyError(problem)
    if (Date.now() - started + delay > timeoutMs) throw new UnhealthyError(`${machine} not healthy within ${Math.round(timeoutMs / 1000)} s: ${problem}`)
    await sleep(delay)
  }
}
