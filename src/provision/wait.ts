import type {Cluster} from '../config/types.js'
import {BerthError} from '../errors.js'
import {done, notYet, pollUntil} from '../poll.js'
import {type MachineStatus, StatusReader} from './status.js'

/**
 * Waits until every machine's installer has recorded success (after `since`, and with
 * `version` when given) and its agent reports a converged pass with `services` active.
 * A failed install stops the wait at once with the machine's recorded error.
 */
export async function waitForInstalled(cluster: Cluster, options: {since: number; version?: string; services: string[]; timeoutMs: number}): Promise<void> {
  // One set of etcd connections for the whole wait, not a new set every poll.
  const reader = await StatusReader.open(cluster)
  try {
    await pollUntil(async () => {
      const status = await reader.read()
      const failed = status.machines.find((m) => m.installed?.result === 'failed' && Date.parse(m.installed.at) >= options.since)
      if (failed) throw new BerthError(`${failed.name}: the installer failed: ${failed.installed?.error ?? 'no reason recorded'}`)
      const waiting = status.machines.map((m) => [m.name, notReady(m, options)]).filter(([, reason]) => reason).map(([name, reason]) => `${name} (${reason})`)
      return waiting.length === 0 ? done(undefined) : notYet(waiting)
    }, {
      timeoutMs: options.timeoutMs,
      intervalMs: 500,
      retryOn: () => false,
      onTimeout: (last) => new BerthError(`not ready within ${options.timeoutMs / 1000} s: ${(last.seen ?? []).join(', ')}`),
    })
  } finally {
    reader.close()
  }
}

/** Why a machine is not ready yet, or '' when it is. */
function notReady(m: MachineStatus, o: {since: number; version?: string; services: string[]}): string {
  if (!m.installed || Date.parse(m.installed.at) < o.since) return 'installer not done'
  if (o.version && m.installed.version !== o.version) return `installed ${m.installed.version}`
  if (m.agent.state !== 'converged') return `agent ${m.agent.state}`
  const inactive = o.services.filter((s) => m.services[s] !== 'active')
  return inactive.length > 0 ? `${inactive.join(', ')} not active` : ''
}
