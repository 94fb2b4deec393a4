import {setTimeout as sleep} from 'node:timers/promises'

import {classifyEtcdError, etcdError, withTimeout} from './errors.js'
import type {MemberStatus} from './members.js'
import {answeringEndpoints} from './probe.js'
import type {RecordStore} from './records.js'

type Etcd3 = import('etcd3').Etcd3

/**
 * An etcd3 client (loaded on first use) for records and desired state.
 *
 * A member that has gone away without closing its connections (a stopped machine) is the
 * case to design for: gRPC then queues every call routed to it on a connection attempt that
 * only the kernel's SYN retries end (about two minutes), and etcd3 routes each call, and each
 * watch it re-creates, to a host picked at random. So unary calls give up after
 * `callTimeoutMs` (a live member answers in milliseconds; 2 s covers a loaded disk), and a
 * host that failed a call is skipped by the next ones for 1 s, then 2, 4… up to 30 s while it
 * keeps failing: a dead member costs one call's deadline per period, not one per call, and
 * a watch re-created after it went away lands on a live one. Each call is retried once per
 * host. (etcd3's own `dialTimeout` option is declared but never read by the library.)
 * Streams (watches, lease keep-alives) have no deadline.
 */
export async function openEtcd(endpoints: string[], extra: Partial<import('etcd3').IOptions> = {}, {callTimeoutMs = 2000} = {}): Promise<Etcd3> {
  const [{Etcd3, isRecoverableError}, {circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleWhen, retry}] = await Promise.all([import('etcd3'), import('cockatiel')])
  const recoverable = handleWhen(isRecoverableError)
  return new Etcd3({
    hosts: endpoints,
    defaultCallOptions: (context) => (context.isStream ? {} : {deadline: Date.now() + callTimeoutMs}),
    ...extra,
    faultHandling: {
      host: () => circuitBreaker(recoverable, {halfOpenAfter: new ExponentialBackoff({initialDelay: 1000, maxDelay: 30_000}), breaker: new ConsecutiveBreaker(1)}),
      global: retry(recoverable, {maxAttempts: endpoints.length + 1}),
      ...extra.faultHandling,
    },
  })
}

/**
 * berth's view of etcd's cluster API (etcd3 underneath, loaded on first use): list members
 * with their health, add a learner, promote, remove. Membership changes are retried for a
 * while because etcd refuses them briefly after another change ("unhealthy cluster").
 */
export class EtcdCluster {
  /** A client per member, asked for its status: made on first use and kept, so a wait that polls reuses them. */
  private readonly memberClients = new Map<string, Promise<Etcd3>>()

  private constructor(private readonly client: Etcd3, readonly endpoints: string[], private readonly timeoutMs: number) {}

  /** A client for the cluster behind `endpoints` (http://IP:2379), through the members that accept a connect now (a dead one would cost a dial timeout per call that picks it). */
  static async connect(endpoints: string[], timeoutMs = 3000): Promise<EtcdCluster> {
    return new EtcdCluster(await openEtcd(await answeringEndpoints(endpoints), {}, {callTimeoutMs: timeoutMs}), endpoints, timeoutMs)
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
