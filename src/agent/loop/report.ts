import type {Etcd3, Lease} from 'etcd3'

import {type AgentRecord, ETCD_PREFIX, type MachineFacts, machineKeys, type ReplicaHealth} from '../../layout/records.js'
import {openEtcd} from '../../etcd/open.js'
import {classifyEtcdError} from '../../etcd/errors.js'
import type {NodeOps} from '../node/node-ops.js'
import type {PassReport} from './status.js'
import {unitName} from '../../layout/node.js'

/**
 * The agent's record in etcd (`<prefix>/machines/<machine>/agent`), written after every
 * pass under a lease that is kept alive: when the agent dies, the lease runs out within
 * its TTL and the record disappears, which is how `cluster status` and the upgrade gates
 * tell a dead agent from a quiet one. A failed write is logged once and tried again on
 * the next pass; it never stops the loop.
 */

/** Where and how the agent reports. */
export interface ReporterOptions {
  endpoints: string[]
  /** The agent's one etcd client (its store's), which the reporter then does not close; without it the reporter opens its own. */
  client?: () => Promise<Etcd3>
  prefix?: string
  machine: string
  /** Default: agentVersion(). */
  version?: string
  unitPrefix: string
  ops: Pick<NodeOps, 'unitStates'>
  ttlSeconds?: number
  /** The machine's facts for the scheduler, written once (without a lease) beside the record. */
  facts?: () => Promise<MachineFacts>
  log?: (line: string) => void
  /** Each desired service's health on this machine, written with the record (the health monitor). */
  health?: () => Record<string, ReplicaHealth>
}

/** Writes the agent's AgentRecord under a kept-alive lease. */
export class AgentReporter {
  #client?: Promise<Etcd3>
  #lease?: Lease
  #chain: Promise<void> = Promise.resolve()
  #failing = false
  #closed = false
  #version?: string
  #lastPass?: PassReport
  #factsWritten = false
  #lastContact?: number

  constructor(readonly options: ReporterOptions) {}

  /** Queues a write of the record for this pass; writes never overlap, and the call never throws. */
  report(pass: PassReport): Promise<void> {
    this.#lastPass = pass
    this.#chain = this.#chain.then(() => this.#write(pass)).catch(() => undefined)
    return this.#chain
  }

  /** Writes the last pass's record again, with fresh health (a copy's health changed between passes). */
  refresh(): Promise<void> {
    return this.#lastPass ? this.report(this.#lastPass) : Promise.resolve()
  }

  /** When etcd last answered this reporter (a write or a keepalive of its lease). */
  lastContact(): number | undefined {
    return this.#lastContact
  }

  /** Revokes the lease (the record goes at once: the agent stopped) and closes the client. */
  async close(): Promise<void> {
    this.#closed = true
    await this.#chain
    await this.#lease?.revoke().catch(() => undefined)
    if (this.#client && !this.options.client) (await this.#client).close()
  }

  /** The record for one pass: each desired service's unit ActiveState, one systemctl call. */
  async record(pass: PassReport): Promise<AgentRecord> {
    const names = Object.keys(pass.outcomes)
    const units = names.map((n) => unitName(this.options.unitPrefix, n))
    const states = await this.options.ops.unitStates(units).catch(() => new Map())
    const services = Object.fromEntries(names.map((n, i) => [n, states.get(units[i]!)?.activeState ?? 'unknown']))
    const errors: Record<string, string> = {}
    for (const [name, outcome] of Object.entries(pass.outcomes)) if (!outcome.ok) errors[name] = outcome.error ?? 'failed'
    pass.errors.forEach((e, i) => (errors[`pass${pass.errors.length > 1 ? `-${i + 1}` : ''}`] = e))
    this.#version ??= this.options.version ?? (await agentVersion())
    const health = this.options.health?.()
    return {version: this.#version, converged: pass.converged, lastPass: pass.startedAt, services, errors, ...(health ? {health} : {})}
  }

  async #write(pass: PassReport): Promise<void> {
    if (this.#closed) return
    try {
      const record = await this.record(pass)
      const lease = await this.#ensureLease()
      const keys = machineKeys(this.options.machine, this.options.prefix ?? ETCD_PREFIX)
      // Facts first: a leader woken by the record's appearance finds them.
      if (this.options.facts && !this.#factsWritten) {
        await (await this.#client!).put(keys.facts).value(JSON.stringify(await this.options.facts()))
        this.#factsWritten = true
      }
      await lease.put(keys.agent).value(JSON.stringify(record))
      this.#lastContact = Date.now()
      if (this.#failing) this.options.log?.('report: writing the agent record to etcd works again')
      this.#failing = false
    } catch (error) {
      // A lease etcd no longer knows (it expired while etcd was away) is granted anew next time.
      this.#lease?.release()
      this.#lease = undefined
      if (!this.#failing) this.options.log?.(`report: cannot write the agent record to etcd: ${(await classifyEtcdError(error)).reason}`)
      this.#failing = true
    }
  }

  async #ensureLease(): Promise<Lease> {
    if (this.#lease && !this.#lease.revoked()) return this.#lease
    this.#client ??= this.options.client?.() ?? openEtcd(this.options.endpoints)
    const lease = (await this.#client).lease(this.options.ttlSeconds ?? 15)
    lease.on('keepaliveSucceeded', () => {
      this.#lastContact = Date.now()
    })
    lease.on('lost', () => {
      if (this.#lease === lease) this.#lease = undefined
    })
    await lease.grant()
    this.#lease = lease
    return lease
  }
}

/** The version the agent reports: BERTH_VERSION (the installer sets it to its image's version), else berth's package version. */
export async function agentVersion(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  if (env.BERTH_VERSION) return env.BERTH_VERSION
  const {readFile} = await import('node:fs/promises')
  const {shipped} = await import('../../paths.js')
  return (JSON.parse(await readFile(shipped('package.json'), 'utf8')) as {version: string}).version
}
