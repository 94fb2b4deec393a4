import {sshShells} from '../cluster/remote.js'
import type {Cluster, Machine} from '../config/types.js'
import {BerthError} from '../errors.js'
import {EtcdCluster} from '../etcd/client.js'
import type {MemberStatus} from '../etcd/members.js'
import {done, notYet, pollUntil} from '../poll.js'

/**
 * Waits until the machine answers SSH with the host key berth generated for it and runs a
 * command. A wrong host key fails at once: only "not up yet" is worth waiting for.
 */
export async function waitForSsh(cluster: Cluster, machine: Machine, options: {identity: string; stateDir: string; timeoutMs: number}): Promise<void> {
  const gaveUp = (reason: string): BerthError => new BerthError(`${machine.name} (${machine.ip}) did not answer SSH within ${options.timeoutMs / 1000} s: ${reason}`)
  await pollUntil(async () => {
    // Each try is a flow of its own: a fresh connection, closed after its one command.
    const machines = sshShells(cluster, {identity: options.identity, stateDir: options.stateDir, timeoutMs: 5000})
    try {
      const result = await machines.on(machine).exec('true')
      return result.code === 0 ? done(undefined) : notYet(`\`true\` exited ${result.code}`)
    } finally {
      await machines.close()
    }
  }, {
    timeoutMs: options.timeoutMs,
    intervalMs: 250,
    retryOn: (error) => error instanceof BerthError && error.retryable,
    onTimeout: (last) => gaveUp(last.error instanceof Error ? last.error.message : last.seen ?? 'no answer'),
  }).catch((error: Error) => {
    // A wrong host key (not retryable) fails as itself; anything unexpected names the machine.
    throw error instanceof BerthError ? error : gaveUp(error.message)
  })
}

/** Waits until etcd reports `count` healthy voting members; returns them. One client for the whole wait. */
export async function waitForEtcd(endpoints: string[], count: number, timeoutMs: number): Promise<MemberStatus[]> {
  const etcd = await EtcdCluster.connect(endpoints, {timeoutMs: 2000, probe: false})
  try {
    return await pollUntil(async () => {
      const members = await etcd.members()
      const healthy = members.filter((m) => m.healthy && !m.isLearner)
      return healthy.length === count && members.length === count ? done(members) : notYet(`${healthy.length} of ${members.length} members healthy`)
    }, {
      timeoutMs,
      intervalMs: 300,
      onTimeout: (last) => new BerthError(`etcd did not report ${count} healthy members within ${timeoutMs / 1000} s (${last.error instanceof Error ? last.error.message : last.seen ?? 'no answer yet'})`),
    })
  } finally {
    etcd.close()
  }
}
