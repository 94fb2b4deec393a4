import {setTimeout as sleep} from 'node:timers/promises'

import {classifyEtcdError, etcdError, withTimeout} from './errors.js'
import type {MemberStatus} from './members.js'
import {openEtcd} from './open.js'
import {answeringEndpoints} from './probe.js'
import type {RecordStore} from './records.js'

type Etcd3 = import('etcd3').Etcd3

/**
 * berth's view of etcd's cluster API (etcd3 underneath, loaded on first use): list members
 * with their health, add a learner, promote, remove. Membership changes are retried for a
 * while because etcd refuses them briefly after another change ("unhealthy cluster").
 */
export class EtcdCluster {
  /** A client per member, asked for its status: made on first use and kept, so a wait that polls reuses them. */
  private readonly memberClients = new Map<string, Promise<Etcd3>>()

  private constructor(private readonly client: Etcd3, readonly endpoints: string[], private readonly timeoutMs: number) {}

  /**
   * A client for the cluster behind `endpoints` (http://IP:2379), through the members that
   * accept a connect now (a dead one would cost a dial timeout per call that picks it). With
   * `probe: false` it keeps every endpoint (the breaker skips the dead ones): for a wait that
   * starts while some members are still down and must see them come up.
   */
  static async connect(endpoints: string[], options: {timeoutMs?: number; probe?: boolean} = {}): Promise<EtcdCluster> {
    const timeoutMs = options.timeoutMs ?? 3000
    const hosts = options.probe === false ? [...endpoints] : await answeringEndpoints(endpoints)
    return new EtcdCluster(await openEtcd(hosts, {}, {callTimeoutMs: timeoutMs}), endpoints, timeoutMs)
  }

  /** The audit trail under `prefix`, over this same connection; closed with it. */
  async auditLog(prefix: string): Promise<import('../audit/etcd.js').EtcdAuditLog> {
    const {EtcdAuditLog} = await import('../audit/etcd.js')
    return new EtcdAuditLog((fn) => this.call('append to the audit trail', () => fn(this.client)), prefix)
  }

  /** berth's records over this same connection; closed with it. */
  async records(): Promise<RecordStore> {
    const {RecordStore} = await import('./records.js')
    return RecordStore.over(this.client, this.endpoints)
  }

  close(): void {
    this.client.close()
    for (const one of this.memberClients.values()) void one.then((c) => c.close())
    this.memberClients.clear()
  }

  /** Every member, each asked for its own status (in parallel) to learn whether it is healthy. */
  async members(): Promise<MemberStatus[]> {
    const list = await this.call('list the members', () => this.client.cluster.memberList({linearizable: true}))
    return Promise.all(list.members.map(async (m) => {
      const base = {id: String(m.ID), name: m.name, peerUrls: m.peerURLs, clientUrls: m.clientURLs, isLearner: Boolean(m.isLearner)}
      if (m.clientURLs.length === 0) return {...base, healthy: false, problem: 'not started'}
      const problem = await this.memberProblem(m.clientURLs)
      return {...base, healthy: problem === undefined, problem}
    }))
  }

  /** Adds a non-voting learner with this peer URL; returns its id. */
  async addLearner(peerUrl: string): Promise<string> {
    const response = await this.retrying(`add a learner at ${peerUrl}`, () => this.client.cluster.memberAdd({peerURLs: [peerUrl], isLearner: true}))
    return String(response.member.ID)
  }

  /** Makes a learner a voter; etcd allows it only once the learner has caught up with the leader. */
  async promote(id: string, timeoutMs = 30_000): Promise<void> {
    await this.retrying(`promote member ${id}`, () => this.client.cluster.memberPromote({ID: id}), timeoutMs)
  }

  async remove(id: string, timeoutMs = 15_000): Promise<void> {
    await this.retrying(`remove member ${id}`, () => this.client.cluster.memberRemove({ID: id}), timeoutMs)
  }

  /** Deletes every key under a prefix (a removed machine's records). */
  async deletePrefix(prefix: string): Promise<void> {
    await this.retrying(`delete ${prefix}`, () => this.client.delete().prefix(prefix).exec())
  }

  private async memberProblem(clientUrls: string[]): Promise<string | undefined> {
    const key = clientUrls.join(',')
    let one = this.memberClients.get(key)
    if (!one) this.memberClients.set(key, one = openEtcd(clientUrls, {}, {callTimeoutMs: this.timeoutMs}))
    try {
      const status = await withTimeout((await one).maintenance.status(), this.timeoutMs)
      return status.errors.length > 0 ? status.errors.join('; ') : undefined
    } catch (error) {
      const failure = await classifyEtcdError(error, `etcd at ${clientUrls.map((u) => new URL(u).host).join(', ')}`)
      return !failure.unreachable || failure.reason.startsWith('no answer') ? failure.reason : `no answer: ${failure.reason}`
    }
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await withTimeout(fn(), this.timeoutMs * 2)
    } catch (error) {
      throw await etcdError(error, this.endpoints, what)
    }
  }

  private async retrying<T>(what: string, fn: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs
    // Short steady polls: a learner is promotable the moment it catches up, which takes seconds.
    for (let delay = 100; ; delay = Math.min(delay * 2, 400)) {
      try {
        return await withTimeout(fn(), this.timeoutMs * 2)
      } catch (error) {
        const failure = await etcdError(error, this.endpoints, what)
        if (Date.now() + delay > deadline || !failure.retryable) throw failure
        await sleep(delay)
      }
    }
  }
}

/** How a process's wiring makes an etcd client; a test passes one that counts. */
export type EtcdConnect = (endpoints: string[]) => Promise<EtcdCluster>

/**
 * The one etcd client of a flow, made by the process's wiring (a command) and handed to
 * every step, preview and wait: connected on first use, so a plan that never reads etcd
 * never dials it, and closed once by the wiring.
 */
export interface SharedEtcd {
  readonly endpoints: string[]
  client(): Promise<EtcdCluster>
  close(): void
}

/** A SharedEtcd for `endpoints`; a failed connect is tried again by the next use. */
export function sharedEtcd(endpoints: string[], connect: EtcdConnect = (e) => EtcdCluster.connect(e)): SharedEtcd {
  let made: Promise<EtcdCluster> | undefined
  return {
    endpoints: [...new Set(endpoints)],
    client() {
      made ??= connect([...new Set(endpoints)]).catch((error: unknown) => {
        made = undefined
        throw error
      })
      return made
    },
    close() {
      const closing = made
      made = undefined
      void closing?.then((c) => c.close(), () => undefined)
    },
  }
}
