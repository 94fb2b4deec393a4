import {readFile} from 'node:fs/promises'

import {Chain} from '../cli/chain.js'
import type {Step} from '../cli/progress.js'
import type {Cluster, Machine} from '../config/types.js'
import {BerthError, UnsafeOperationError, UsageError} from '../errors.js'
import {EtcdCluster} from '../etcd/client.js'
import {openEtcd} from '../etcd/open.js'
import {etcdUrls} from '../firstboot/index.js'
import {done, notYet, pollUntil} from '../poll.js'
import {hostName, type MachineShell, type MachineShells} from '../machine/shell.js'
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
  /** The flow's machines (SSH, host keys verified), each reached on its first command (never for --dry-run); the caller closes them. */
  machines: MachineShells
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

/** The snapshot file checked whole: its database and what it says about itself. */
async function readSnapshot(file: string, cluster: string): Promise<{meta: SnapshotMeta; db: Buffer}> {
  const bytes = await readFile(file).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError([{file, message: `cannot read the snapshot (${error.code ?? error.message})`, fix: 'pass a file written by `berth cluster backup`'}])
  })
  return decodeSnapshot(bytes, file, cluster)
}

/**
 * The steps of a restore: check the snapshot file whole and that no member still holds
 * a quorum (both before anything is stopped), upload the database to every main machine,
 * stop etcd on all of them, restore each into a fresh data dir with a new cluster token,
 * start them as a new cluster and wait until every member is healthy. Agents reconnect by
 * themselves and converge to the restored desired state. Each step gets what the steps
 * before it found (a Chain): the database and its metadata, then when etcd started.
 * `result` is the snapshot's metadata, once every step has run.
 */
export function restoreSteps(request: RestoreRequest): {steps: Step[]; result: () => {meta: SnapshotMeta}} {
  const {cluster} = request
  const mains = cluster.machines.filter((m) => m.role === 'main')
  const endpoints = mains.map((m) => etcdUrls(cluster, m.ip).client)
  const initialCluster = mains.map((m) => `${m.name}=${etcdUrls(cluster, m.ip).peer}`).join(',')
  const names = mains.map((m) => m.name).join(', ')
  const hosts = mains.map((m) => hostName(m)).join(', ')
  // The plan is built without reaching a machine (--dry-run): each shell is asked for at its first command.
  const onEvery = async (run: (shell: MachineShell) => Promise<unknown>): Promise<void> => {
    await Promise.all(mains.map(async (m) => run(request.machines.on(m))))
  }
  const restoreOf = (m: Machine) => restoreCommand({name: m.name, peerUrl: etcdUrls(cluster, m.ip).peer, initialCluster, token: request.token})

  const checked = new Chain({})
    .step(`Check ${request.file}: format, size, sha256, taken from cluster ${cluster.name}`, async () => {
      const {meta, db} = await readSnapshot(request.file, cluster.name)
      return {note: `revision ${meta.revision} taken ${meta.takenAt}`, meta, db}
    }, async () => {
      // Reading the file changes nothing: the plan names the snapshot it would restore.
      const {meta} = await readSnapshot(request.file, cluster.name)
      return `would restore revision ${meta.revision} taken ${meta.takenAt} from ${meta.takenFrom} (${meta.dbBytes} bytes, sha256 ${meta.sha256.slice(0, 12)}…)`
    })
    .step(`Check that no etcd member of ${names} still has a leader (a restore discards their data)`, async ({meta}) => {
      const alive = await membersWithLeader(endpoints)
      if (alive.length === 0) return {note: 'none answers with a leader'}
      const reason = `${alive.length} of ${mains.length} etcd members answer with a leader (${alive.join(', ')}); restoring would discard their data (the snapshot is at revision ${meta.revision}). For one lost member use \`cluster repair-member\``
      if (!request.force) throw new UnsafeOperationError(`refusing to restore: ${reason}; pass --force to restore anyway`)
      request.warn(`restoring although ${reason}`)
      return {note: `${alive.length} healthy: restoring anyway (--force)`}
    }, async () => {
      const alive = await membersWithLeader(endpoints)
      const now = alive.length === 0 ? 'none answers with a leader now' : `now ${alive.length} of ${mains.length} answer with a leader (${alive.join(', ')})${request.force ? '' : ', so it would refuse'}`
      return `would ask ${endpoints.join(', ')} and go on only if none answers with a leader${request.force ? ' (--force: restore anyway, with a warning)' : ''}: ${now}`
    })
    .step(`Upload the snapshot to ${REMOTE_SNAPSHOT} on ${names} (SSH, host keys verified, mode 0600)`, async ({db}) => {
      await onEvery((shell) => shell.writeFiles([{path: REMOTE_SNAPSHOT, data: db, mode: 0o600}]))
      return {}
    }, async () => `would write the snapshot's database to ${REMOTE_SNAPSHOT} (temp file, rename) on ${hosts}`)
    .step(`Stop etcd on ${names}`, async () => {
      await onEvery((shell) => shell.run(stopEtcdCommand()))
      return {}
    }, async () => `would run \`${stopEtcdCommand()}\` on ${hosts}`)
  let restored = checked
  for (const m of mains) {
    restored = restored.step(`Restore ${m.name}'s data dir from the snapshot (etcdctl snapshot restore --name ${m.name} --initial-cluster-token ${request.token}; the old dir kept as <dir>.before-restore)`, async () => {
      await request.machines.on(m).run(restoreOf(m))
      return {}
    }, async () => `would restore ${REMOTE_SNAPSHOT} on ${hostName(m)} as member ${m.name} (${etcdUrls(cluster, m.ip).peer}) of the new initial cluster ${initialCluster}, token ${request.token}, into a fresh data dir`)
  }
  const plan = restored
    .step(`Start etcd on ${names} as a new cluster (${initialCluster}) and wait until every member is healthy`, async () => {
      await onEvery((shell) => shell.run(startEtcdCommand()))
      const startedAt = Date.now()
      return {note: await waitHealthy(endpoints, mains.length, request.timeoutMs), startedAt}
    }, async () => `would run \`${startEtcdCommand()}\` on ${hosts}, then wait up to ${Math.round(request.timeoutMs / 1000)} s until ${mains.length} of ${mains.length} members (${endpoints.join(', ')}) are healthy`)
    .step('Wait until every installed machine\'s agent has made a pass since, converged to the restored desired state', async ({startedAt}) => ({
      note: await waitAgents(cluster, startedAt, request.timeoutMs),
    }), async () => `would wait up to ${Math.round(request.timeoutMs / 1000)} s for a converged pass of every installed machine's agent made after etcd started`)
  return {steps: plan.steps, result: () => ({meta: plan.result().meta})}
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
