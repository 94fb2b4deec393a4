import {setTimeout as sleep} from 'node:timers/promises'

import {openShell} from '../cluster/remote.js'
import type {Cluster, Machine} from '../config/types.js'
import {BerthError} from '../errors.js'
import {EtcdCluster} from '../etcd/client.js'
import type {MemberStatus} from '../etcd/members.js'

/**
 * Waits until the machine answers SSH with the host key berth generated for it and runs a
 * command. A wrong host key fails at once: only "not up yet" is worth waiting for.
 */
export async function waitForSsh(cluster: Cluster, machine: Machine, options: {identity: string; stateDir: string; timeoutMs: number}): Promise<void> {
  const deadline = Date.now() + options.timeoutMs
  for (;;) {
    try {
      const shell = await openShell(cluster, machine, {identity: options.identity, stateDir: options.stateDir, timeoutMs: 5000})
      try {
        const result = await shell.exec('true')
        if (result.code === 0) return
      } finally {
        await shell.close()
      }
    } catch (error) {
      if (!(error instanceof BerthError) || !error.retryable || Date.now() > deadline) {
        throw error instanceof BerthError && !error.retryable ? error : new BerthError(`${machine.name} (${machine.ip}) did not answer SSH within ${options.timeoutMs / 1000} s: ${(error as Error).message}`)
      }
    }
    await sleep(250)
  }
}

/** Waits until etcd reports `count` healthy voting members; returns them. */
export async function waitForEtcd(endpoints: string[], count: number, timeoutMs: number): Promise<MemberStatus[]> {
  const deadline = Date.now() + timeoutMs
  let last = 'no answer yet'
  for (;;) {
    const etcd = await EtcdCluster.connect(endpoints, 2000)
    try {
      const members = await etcd.members()
      const healthy = members.filter((m) => m.healthy && !m.isLearner)
      if (healthy.length === count && members.length === count) return members
      last = `${healthy.length} of ${members.length} members healthy`
    } catch (error) {
      last = (error as Error).message
    } finally {
      etcd.close()
    }
    if (Date.now() > deadline) throw new BerthError(`etcd did not report ${count} healthy members within ${timeoutMs / 1000} s (${last})`)
    await sleep(300)
  }
}
