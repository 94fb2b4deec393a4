import type {Etcd3, IOperation, Watcher} from 'etcd3'

import {ETCD_PREFIX, rolloutKeys, schedulerKeys, secretsDir, servicesDir, type RevisionRecord} from '../../layout/records.js'
import {auditEntry, type AuditAction, type AuditEntry, type AuditOrigin, type AuditQuery, type AuditRetention} from '../../audit/entry.js'
import {EtcdAuditLog} from '../../audit/etcd.js'
import {RetryableError} from '../../errors.js'
import {openEtcd} from '../../etcd/open.js'
import {etcdError} from '../../etcd/errors.js'
import {storedAssignments} from '../../scheduler/inputs.js'
import {appendRevision, parseRevisions, revisionOps} from '../../scheduler/revisions.js'
import {sha256Hex, shortSpecHash, specHash} from '../../hash.js'
import {validateSecretName} from './secret-name.js'
import {validateServiceName, validateServiceSpec, validateStoredServices, type ServiceSpec} from '../../spec/service.js'
import {replicasOf} from '../../spec/quantities.js'
import type {AssignedReplica, DesiredStore} from './store.js'

/** How to reach etcd and which part of its key space is berth's. */
export interface EtcdStoreOptions {
  endpoints: string[]
  /** Key prefix without a trailing slash (default /berth). */
  prefix?: string
  /** How much of the audit trail to keep (default AUDIT_RETENTION). */
  auditRetention?: AuditRetention
  /** Told the duration of every request (the agent's metrics). */
  timer?: EtcdTimer
}

/** The store's hook for the agent's metrics: called once per request with its duration. */
export type EtcdTimer = (operation: string, seconds: number, ok: boolean) => void

// The watch manager's default backoff grows to 30 s; a node must see changes again within
// about a second of etcd coming back, so reconnects are retried every 0.25-2 s.
interface Backoff {
  readonly duration: number
  next(): Backoff
}
const backoff = (ms: number): Backoff => ({duration: ms, next: () => backoff(Math.min(ms * 2, 2000))})

/** How many times a change is tried again when its key moved between the read and the write. */
const maxConflicts = 10

/**
 * Desired state in etcd, the cluster default: `<prefix>/services/<name>` holds a spec as
 * JSON, `<prefix>/secrets/<name>` a sealed blob, `<prefix>/audit/<id>` the audit trail.
 * etcd3 is loaded on first use (~300 ms).
 */
export class EtcdStore implements DesiredStore {
  readonly #endpoints: string[]
  readonly #prefix: string
  readonly #audit: EtcdAuditLog
  readonly #timer?: EtcdTimer
  #client: Promise<Etcd3> | undefined

  constructor(options: EtcdStoreOptions) {
    this.#endpoints = options.endpoints
    this.#prefix = (options.prefix ?? ETCD_PREFIX).replace(/\/+$/, '')
    this.#timer = options.timer
    this.#audit = new EtcdAuditLog((call) => this.#call('audit', 'write the audit trail', call), this.#prefix, options.auditRetention)
  }

  /** Every service under `<prefix>/services/`, validated; a bad one fails the read, naming its key. */
  async services(): Promise<Map<string, ServiceSpec>> {
    const dir = servicesDir(this.#prefix)
    const values = await this.#call('services', `read ${dir}`, (c) => c.getAll().prefix(dir).strings())
    return validateStoredServices(Object.entries(values).map(([key, text]) => ({name: key.slice(dir.length), where: {file: `etcd ${key}`}, read: () => JSON.parse(text)})))
  }

  /**
   * Stores a spec as JSON under its name and appends it to the service's revisions (the
   * last REVISIONS_KEPT), in one transaction; with an origin, its audit entry too. A
   * rollback is a put of an older revision's spec, recorded as `service.rollback`.
   */
  async putService(name: string, spec: ServiceSpec, origin?: AuditOrigin, options: {action?: 'service.put' | 'service.rollback'; note?: string} = {}): Promise<void> {
    validateServiceName(name)
    const key = this.#key('services', name)
    const value = JSON.stringify(spec)
    const ops = async (c: Etcd3): Promise<IOperation[]> => {
      const dir = rolloutKeys(name, this.#prefix).revisions
      const [existing, stored] = await Promise.all([
        this.#call('revisions', `read ${dir}`, () => c.getAll().prefix(dir).strings()),
        this.#call('services', `read ${key}`, () => c.get(key).string()),
      ])
      const at = new Date().toISOString()
      // A spec stored without a revision (by a berth before revisions, or an installer before it wrote one) is kept first: the
      // assignments name its hash, and a copy whose revision is not kept runs the current spec, so this change would restart every copy at once.
      const previous = await unrevisedSpec(stored, parseRevisions(existing, name, this.#prefix))
      const kept = previous ? appendRevision(name, existing, {spec: previous, hash: shortSpecHash(previous), at, origin: 'unknown', note: 'stored before revisions'}, this.#prefix) : undefined
      const after = kept ? {...existing, [kept.key]: JSON.stringify(kept.record)} : existing
      const next = appendRevision(name, after, {spec, hash: shortSpecHash(spec), at, origin: origin?.via ?? 'unknown', ...(options.note ? {note: options.note} : {})}, this.#prefix)
      // next's trim counts the kept one among those etcd holds, and trims for both (kept's own trim would delete a key twice in one transaction, which etcd refuses).
      return [c.put(key).value(value), ...(kept ? revisionOps(c, {...kept, trim: []}) : []), ...revisionOps(c, next)]
    }
    await this.#audited(key, {action: options.action ?? 'service.put', target: name, origin, after: specHash(spec)}, ops)
  }

  /** The service's kept revisions, oldest first. */
  async revisions(name: string): Promise<RevisionRecord[]> {
    const dir = rolloutKeys(name, this.#prefix).revisions
    return parseRevisions(await this.#call('revisions', `read ${dir}`, (c) => c.getAll().prefix(dir).strings()), name, this.#prefix)
  }

  /** Deletes a service's key, with its revisions and rollout; false when there was none. */
  async deleteService(name: string, origin?: AuditOrigin): Promise<boolean> {
    const key = this.#key('services', name)
    const keys = rolloutKeys(name, this.#prefix)
    return this.#audited(key, {action: 'service.delete', target: name, origin, after: null}, (c) => [c.delete().key(key), c.delete().prefix(keys.revisions), c.delete().key(keys.rollout)])
  }

  /** The replicas assigned to `machine` under `<prefix>/assignments/`, each with the spec hash it runs; an unreadable assignment is skipped (the leader rewrites it). */
  async assignedTo(machine: string): Promise<Map<string, AssignedReplica>> {
    const values = await this.#call('assignments', `read assignments of ${machine}`, (c) => c.getAll().prefix(schedulerKeys(this.#prefix).assignments).strings())
    const assigned = new Map<string, AssignedReplica>()
    for (const {replica, service, record} of storedAssignments(values, this.#prefix).filter((a) => a.machine === machine)) assigned.set(replica, {service, specHash: record.specHash})
    return assigned
  }

  /** Names under `<prefix>/secrets/`, read as keys only so no blob is fetched. */
  async secretNames(): Promise<string[]> {
    const dir = secretsDir(this.#prefix)
    const keys = await this.#call('secret_names', `list ${dir}`, (c) => c.getAll().prefix(dir).keys())
    return keys.map((key) => key.slice(dir.length)).sort()
  }

  /** The sealed blob stored for a secret, or undefined. */
  async sealedSecret(name: string): Promise<Buffer | undefined> {
    return (await this.#call('sealed_secret', `read secret ${name}`, (c) => c.get(this.#key('secrets', name)).buffer())) ?? undefined
  }

  /** Stores a sealed blob as the key's raw bytes; the audit entry names the secret only. */
  async putSealedSecret(name: string, blob: Buffer, origin?: AuditOrigin): Promise<void> {
    validateSecretName(name)
    const key = this.#key('secrets', name)
    if (!origin) return void (await this.#call('put_secret', `write secret ${name}`, (c) => c.put(key).value(blob).exec()))
    await this.#audited(key, {action: 'secret.set', target: name, origin}, (c) => [c.put(key).value(blob)])
  }

  /** Deletes a secret's key; false when there was none. */
  async deleteSecret(name: string, origin?: AuditOrigin): Promise<boolean> {
    const key = this.#key('secrets', name)
    if (!origin) return this.#delete(key)
    return this.#audited(key, {action: 'secret.delete', target: name, origin}, (c) => [c.delete().key(key)])
  }

  /** Appends an entry for a change made elsewhere (a machine, an upgrade). */
  async appendAudit(entry: AuditEntry): Promise<void> {
    await this.#audit.appendAudit(entry)
  }

  /** The audit trail, oldest first. */
  async auditEntries(query?: AuditQuery): Promise<AuditEntry[]> {
    return this.#audit.auditEntries(query)
  }

  /**
   * Watches the whole prefix: every put or delete calls `onChange`, and so does a reconnect,
   * because changes made while the stream was down may be missed. A watcher that etcd ends
   * (a compacted revision) is replaced by a new one.
   *
   * A replicated service's copies run what the leader's assignments name, and the leader
   * writes them right after the spec: waking for the spec itself would start a pass that
   * finds nothing to do yet, which the assignments' wake then waits behind. So a put of a
   * replicated spec calls `onChange` only `heldMs` later, and not at all when another change
   * called it first (that pass reads the spec too).
   */
  async watch(onChange: () => void, options: {heldMs?: number} = {}): Promise<() => Promise<void>> {
    let stopped = false
    let current: Watcher | undefined
    let held: NodeJS.Timeout | undefined
    const changed = (): void => {
      clearTimeout(held)
      held = undefined
      onChange()
    }
    const hold = (): void => {
      if (held !== undefined) return
      held = setTimeout(changed, options.heldMs ?? 1000)
      held.unref?.()
    }
    const servicePrefix = servicesDir(this.#prefix)
    const isReplicatedSpec = (kv: {key: Buffer; value: Buffer}): boolean => {
      if (!kv.key.toString().startsWith(servicePrefix)) return false
      try {
        return replicasOf(JSON.parse(kv.value.toString()) as ServiceSpec) !== 'global'
      } catch {
        return false
      }
    }
    const reopen = (ms: number): void => void setTimeout(() => {
      if (!stopped) open().then(changed, () => reopen(Math.min(Math.max(ms, 125) * 2, 2000)))
    }, ms)
    const open = async (): Promise<void> => {
      const watcher = await this.#call('watch', `watch ${this.#prefix}/`, (c) => c.watch().prefix(`${this.#prefix}/`).create())
      let lost = false
      // Only desired state wakes the agent: the machines' records (every agent rewrites its
      // own after each pass) would otherwise make all agents wake each other forever.
      const desired = (kv: {key: Buffer}): boolean => /^(services|secrets|assignments)\//.test(kv.key.toString().slice(this.#prefix.length + 1))
      watcher.on('put', (kv) => desired(kv) && (isReplicatedSpec(kv) ? hold() : changed()))
      watcher.on('delete', (kv) => desired(kv) && changed())
      watcher.on('disconnected', () => { lost = true })
      watcher.on('connected', () => {
        if (!lost) return
        lost = false
        changed()
        // etcd3 resumes a watch after the last revision it saw. An etcd restored from a
        // snapshot is behind that revision and would stay silent until it caught up, so a
        // fresh watch replaces it; the pass just asked for covers the time in between.
        if (stopped || current !== watcher) return
        current = undefined
        void watcher.cancel().catch(() => undefined)
        reopen(0)
      })
      // Without a listener an 'error' would crash the agent; 'end' follows a fatal one.
      watcher.on('error', () => { lost = true })
      watcher.on('end', () => {
        if (stopped || current !== watcher) return
        reopen(250)
      })
      if (stopped) await watcher.cancel()
      current = watcher
    }
    await open()
    return async () => {
      stopped = true
      clearTimeout(held)
      await current?.cancel().catch(() => undefined)
    }
  }

  /** Closes the connection to etcd. */
  async close(): Promise<void> {
    const client = this.#client
    this.#client = undefined
    if (client) (await client).close()
  }

  #key(kind: 'services' | 'secrets', name: string): string {
    return `${(kind === 'services' ? servicesDir : secretsDir)(this.#prefix)}${name}`
  }

  /**
   * Reads the key, then writes the change and its entry in one transaction guarded by the
   * key's revision, so the "before" hash is the value the change replaced; tried again when
   * another writer came in between. A service's hashes are its spec's; a secret has none.
   * Returns false, writing nothing, for a delete of a key that is not there.
   */
  async #audited(key: string, change: {action: AuditAction; target: string; origin?: AuditOrigin; after?: string | null}, ops: (client: Etcd3) => IOperation[] | Promise<IOperation[]>): Promise<boolean> {
    const hashed = change.action.startsWith('service.')
    for (let attempt = 0; attempt < maxConflicts; attempt++) {
      const current = (await this.#call('audit', `read ${key}`, (c) => c.get(key).exec())).kvs[0]
      if (!current && change.action.endsWith('.delete')) return false
      const guard = {key, revision: String(current?.mod_revision ?? '0')}
      const built = await ops(await this.#connect())
      if (!change.origin) {
        // No origin, no audit entry: the same guarded transaction without it.
        const result = await this.#call(change.action.endsWith('.delete') ? 'delete' : 'put_service', `write ${key}`, (c) => c.if(key, 'Mod', '==', guard.revision).then(...built).commit())
        if (result.succeeded) return true
        continue
      }
      const before = hashed && current ? storedSpecHash(current.value.toString('utf8')) : null
      const entry = auditEntry({action: change.action, target: change.target, before, after: hashed ? change.after : null}, change.origin)
      if (await this.#audit.commit(entry, {guard, ops: () => built})) return true
    }
    throw new RetryableError(`etcd ${this.#endpoints.join(',')}: ${key} kept changing while it was written; try again`)
  }

  async #delete(key: string): Promise<boolean> {
    const result = await this.#call('delete', `delete ${key}`, (c) => c.delete().key(key).exec())
    return result.deleted !== '0'
  }

  /** The store's etcd client, made on first use: the agent's reporter and scheduler share it, so one breaker learns that a member is gone. Closed with the store. */
  client(): Promise<Etcd3> {
    return this.#connect()
  }

  #connect(): Promise<Etcd3> {
    this.#client ??= openEtcd(this.#endpoints, {faultHandling: {watchBackoff: backoff(250)}})
    return this.#client
  }

  /** Runs one etcd call, timed as `operation`; etcd3's errors become berth's (naming `what`) at the boundary. */
  async #call<T>(operation: string, what: string, call: (client: Etcd3) => Promise<T>): Promise<T> {
    const client = await this.#connect()
    const started = performance.now()
    let ok = false
    try {
      const result = await call(client)
      ok = true
      return result
    } catch (error) {
      throw await etcdError(error, this.#endpoints, what)
    } finally {
      this.#timer?.(operation, (performance.now() - started) / 1000, ok)
    }
  }
}

/** The hash of a stored spec's JSON; a value that does not parse is hashed as its text. */
function storedSpecHash(text: string): string {
  try {
    return specHash(JSON.parse(text))
  } catch {
    return sha256Hex(text)
  }
}

/** The stored spec, validated, when no kept revision has its hash; undefined when one has, or there is none, or it no longer validates. */
async function unrevisedSpec(stored: string | null, revisions: readonly RevisionRecord[]): Promise<ServiceSpec | undefined> {
  if (stored === null) return undefined
  try {
    const spec = await validateServiceSpec(JSON.parse(stored))
    return revisions.some((r) => r.hash === shortSpecHash(spec)) ? undefined : spec
  } catch {
    return undefined
  }
}
