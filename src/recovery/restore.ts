import {readFile} from 'node:fs/promises'

import type {Step} from '../cli/progress.js'
import type {ShellOpener} from '../cluster/remote.js'
import type {Cluster, Machine} from '../config/types.js'
import {BerthError, UnsafeOperationError, UsageError} from '../errors.js'
import {EtcdCluster} from '../etcd/client.js'
import {openEtcd} from '../etcd/open.js'
import {etcdUrls} from '../firstboot/index.js'
import {done, notYet, pollUntil} from '../poll.js'
import type {SshConnection} from '../ssh/connection.js'
import {REMOTE_SNAPSHOT, restoreCommand, startEtcdCommand, stopEtcdCommand} from './node-commands.js'
import {type SnapshotMeta, decodeSnapshot} from './snapshot-file.js'

/** What `cluster restore` is asked to do. */
export interface RestoreRequest {
  cluster: Cluster
  file: string
  /** Restore even though members answer with a leader (their data is discarded). */
  force: boolean
  /** The new initial-cluster token (a restored cluster must not be mistaken for the old one). */
  token: string
  /** SSH to the main machines, host keys verified; made on first use (not for --dry-run). */
  opener: () => Promise<ShellOpener>
  timeoutMs: number
  warn: (message: string) => void
}

/** A fresh initial-cluster token for a restore: the cluster's token and the time. */
export function restoreToken(cluster: Cluster, now = new Date()): string {
  return `${cluster.etcd.token}-restored-${now.toISOString().replace(/\D/g, '').slice(0, 14)}`
}

/** Asks each member for its status: the ones that answer and know a leader still hold a working cluster (with their revision). */
async function membersWithLeader(endpoints: string[]): Promise<string[]> {
  const answers = await Promise.all(endpoints.map(async (endpoint) => {
    const client = await openEtcd([endpoint], {}, {callTimeoutMs: 1500})
    try {
      const status = await Promise.race([client.maintenance.status(), new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timed out')), 3000).unref())])
      return status.leader !== '0' ? `${endpoint} at revision ${status.header.revision}` : undefined
    } catch {
      return undefined
    } finally {
      client.close()
    }
  }))
  return answers.filter((e): e is string => e !== undefined)
}

/**
 * The steps of a restore: check the snapshot file whole and that no member still holds
 * a quorum (both before anything is stopped), upload the database to every main machine,
 * stop etcd on all of them, restore each into a fresh data dir with a new cluster token,
 * start them as a new cluster and wait until every member is healthy. Agents reconnect by
 * themselves and converge to the restored desired state.
 */
export function restoreSteps(request: RestoreRequest, result: {meta?: SnapshotMeta}): {steps: Step[]; close: () => void} {
  const {cluster} = request
  const mains = cluster.machines.filter((m) => m.role === 'main')
  const endpoints = mains.map((m) => etcdUrls(cluster, m.ip).client)
  const initialCluster = mains.map((m) => `${m.name}=${etcdUrls(cluster, m.ip).peer}`).join(',')
  const names = mains.map((m) => m.name).join(', ')
  let db: Buffer | undefined
  let startedAt = 0
  const shells = new Map<string, Promise<SshConnection>>()
  let opener: Promise<ShellOpener> | undefined
  const shell = async (machine: Machine): Promise<SshConnection> => {
    let one = shells.get(machine.name)
    // One opener: the identity and the host keys are read once for every machine.
    if (!one) shells.set(machine.name, one = (opener ??= request.opener()).then((open) => open(machine)))
    return one
  }
  const onEvery = async (run: (machine: Machine, ssh: SshConnection) => Promise<void>): Promise<void> => {
    await Promise.all(mains.map(async (m) => run(m, await shell(m))))
  }

  const steps: Step[] = [{
    title: `Check ${request.file}: format, size, sha256, taken from cluster ${cluster.name}`,
    run: async () => {
      const bytes = await readFile(request.file).catch((error: NodeJS.ErrnoException) => {
        throw new UsageError([{file: request.file, message: `cannot read the snapshot (${error.code ?? error.message})`, fix: 'pass a file written by `berth cluster backup`'}])
      })
      const decoded = decodeSnapshot(bytes, request.file, cluster.name)
      db = decoded.db
      result.meta = decoded.meta
      return `revision ${decoded.meta.revision} taken ${decoded.meta.takenAt}`
    },
  }, {
    title: `Check that no etcd member of ${names} still has a leader (a restore discards their data)`,
    run: async () => {
      const alive = await membersWithLeader(endpoints)
      if (alive.length === 0) return 'none answers with a leader'
      const reason = `${alive.length} of ${mains.length} etcd members answer with a leader (${alive.join(', ')}); restoring would discard their data (the snapshot is at revision ${result.meta!.revision}). For one lost member use \`cluster repair-member\``
      if (!request.force) throw new UnsafeOperationError(`refusing to restore: ${reason}; pass --force to restore anyway`)
      request.warn(`restoring although ${reason}`)
      return `${alive.length} healthy: restoring anyway (--force)`
    },
  }, {
    title: `Upload the snapshot to ${REMOTE_SNAPSHOT} on ${names} (SSH, host keys verified, mode 0600)`,
    run: async () => onEvery(async (_, ssh) => ssh.uploadFileAtomic(REMOTE_SNAPSHOT, db!, 0o600)),
  }, {
    title: `Stop etcd on ${names}`,
    run: async () => onEvery(async (_, ssh) => void await ssh.execChecked(stopEtcdCommand())),
  }, ...mains.map((m): Step => ({
    title: `Restore ${m.name}'s data dir from the snapshot (etcdctl snapshot restore --name ${m.name} --initial-cluster-token ${request.token}; the old dir kept as <dir>.before-restore)`,
    run: async () => void await (await shell(m)).execChecked(restoreCommand({name: m.name, peerUrl: etcdUrls(cluster, m.ip).peer, initialCluster, token: request.token})),
  })), {
    title: `Start etcd on ${names} as a new cluster (${initialCluster}) and wait until every member is healthy`,
    run: async () => {
      await onEvery(async (_, ssh) => void await ssh.execChecked(startEtcdCommand()))
      startedAt = Date.now()
      return waitHealthy(endpoints, mains.length, request.timeoutMs)
    },
  }, {
    title: 'Wait until every installed machine\'s agent has made a pass since, converged to the restored desired state',
    run: async () => waitAgents(cluster, startedAt, request.timeoutMs),
  }]
  return {steps, close: () => { for (const one of shells.values()) void one.then((s) => s.close(), () => undefined) }}
}

/** Polls the members until `count` are healthy voters (the restored cluster has elected a leader). */
export async function waitHealthy(endpoints: string[], count: number, timeoutMs: number): Promise<string> {
  const etcd = await EtcdCluster.connect(endpoints, {timeoutMs: 1500})
  try {
    return await pollUntil(async () => {
      const members = await etcd.members()
      const healthy = members.filter((m) => m.healthy && !m.isLearner).length
      return healthy === count ? done(`${healthy} of ${count} healthy`) : notYet(members)
    }, {
      timeoutMs,
      // etcd's members come up within a second or two of each other; poll briskly.
      intervalMs: 250,
      onTimeout: (last) => new BerthError(`etcd did not become healthy within ${Math.round(timeoutMs / 1000)} s: ${last.seen ? last.seen.map((m) => `${m.name}: ${m.problem ?? 'healthy'}`).join('; ') : (last.error as Error).message}`),
    })
  } finally {
    etcd.close()
  }
}

/**
 * Polls the machines' records until every installed machine's agent has reported a
 * converged pass made after `since`: its etcd client found the restored cluster by itself.
 */
async function waitAgents(cluster: Cluster, since: number, timeoutMs: number): Promise<string> {
  const {StatusReader} = await import('../provision/status.js')
  const reader = await StatusReader.open(cluster)
  try {
    return await pollUntil(async () => {
      const now = Date.now()
      const installed = (await reader.read(now)).machines.filter((m) => m.installed)
      const behind = installed.filter((m) => m.agent.state !== 'converged' || (m.agent.lastPassAgeS ?? Infinity) * 1000 > now - since)
      return behind.length === 0 ? done(`${installed.length} agents converged`) : notYet(behind)
    }, {
      timeoutMs,
      intervalMs: 500,
      retryOn: () => false,
      onTimeout: (last) => new BerthError(`etcd is restored, but within ${Math.round(timeoutMs / 1000)} s these agents made no converged pass: ${(last.seen ?? []).map((m) => `${m.name} (${m.agent.state})`).join(', ')}; see \`cluster status\``),
    })
  } finally {
    reader.close()
  }
}
