import type {Etcd3, Watcher} from 'etcd3'

import {canonicalJson, shortSpecHash, specHash} from '../hash.js'
import {auditEntry, type AuditEntry, type AuditOrigin} from '../audit/entry.js'
import type {RegistryCredentials} from '../images/digest.js'
import {parseReference, qualifiedImage} from '../images/reference.js'
import type {DigestLookup} from '../images/pin.js'
import {ETCD_PREFIX, type RegistryPushRecord, rolloutKeys, type RolloutRecord, schedulerKeys} from '../layout/records.js'
import {autoUpgradePollSeconds, type ServiceSpec} from '../spec/service.js'

/**
 * Auto-upgrade: the scheduler's leader follows the tag of every service with `autoUpgrade`,
 * by polling (each service's `pollSeconds`) and by the registry's push notifications, which
 * any agent writes to `<prefix>/scheduler/registry-push` (src/agent/api/registry-events.ts).
 * When the tag points at a new digest, the service's spec is stored with it through the
 * store's normal `putService`, as a deploy stores it, so the change rolls out as any other
 * spec change does; an audit entry `service.auto-upgrade` names both digests. Every main
 * agent runs one; only the one that leads acts.
 */

/** What the upgrader needs. */
export interface AutoUpgradeOptions {
  /** Watches the registry-push key. */
  client: Etcd3
  prefix?: string
  /** This agent's machine, named in the audit entries. */
  machine: string
  /** Whether this agent leads the scheduler now (SchedulerCandidate.leading). */
  isLeader: () => boolean
  /** The agent's desired-state store (its DesiredStore), as much of it as an upgrade writes through. */
  store: {
    services(): Promise<Map<string, ServiceSpec>>
    putService(name: string, spec: ServiceSpec, origin?: AuditOrigin): Promise<void>
    appendAudit(entry: AuditEntry): Promise<void>
  }
  /** Digest of a qualified `registry/repository:tag` (src/images/pin.ts registryLookup). */
  lookup: DigestLookup
  /** The cluster registry images without a host come from. */
  registry?: string
  /** A service's own pull credentials (its pullSecret opened, src/agent/store/pull-credentials.ts). */
  credentials?: (spec: ServiceSpec) => Promise<RegistryCredentials | undefined>
  /** How often due polls are looked for (default 5000 ms: the shortest pollSeconds is 5). */
  tickMs?: number
  log?: (line: string) => void
}

/** What one check of one service found. */
export type CheckOutcome =
  | {service: string; result: 'upgraded'; from?: string; to: string}
  | {service: string; result: 'current'; digest: string}
  | {service: string; result: 'superseded' | 'not leading'}
  /** The rollout to this very digest failed and was rolled back: it is not tried again until the tag moves on or a deploy comes. */
  | {service: string; result: 'held'; digest: string; reason: string}
  | {service: string; result: 'failed'; error: string}

/** Whether a push of `repository:tag` is the tag a service follows. */
export function followsPush(spec: Pick<ServiceSpec, 'image'>, registry: string | undefined, push: {repository: string; tag: string}): boolean {
  const ref = parseReference(qualifiedImage(spec.image, registry))
  return ref.digest === undefined && ref.repository === push.repository && ref.tag === push.tag
}

/** The services due for a lookup at `now`, given when each is due next (a service not in `due` is due at once). */
export function dueServices(services: ReadonlyMap<string, ServiceSpec>, due: ReadonlyMap<string, number>, now: number): string[] {
  return [...services].filter(([name, spec]) => autoUpgradePollSeconds(spec) !== undefined && (due.get(name) ?? 0) <= now).map(([name]) => name)
}

/** Follows the tags of the auto-upgraded services while this agent leads. */
export class AutoUpgrader {
  readonly prefix: string
  readonly #due = new Map<string, number>()
  #timer?: NodeJS.Timeout
  #watcher?: Watcher
  #chain: Promise<void> = Promise.resolve()
  #stopped = false
  /** Called after every check of a service (tests and the bench wait on it). */
  onCheck?: (outcome: CheckOutcome) => void

  constructor(readonly options: AutoUpgradeOptions) {
    this.prefix = options.prefix ?? ETCD_PREFIX
  }

  /** Starts polling and watching the registry-push key; resolves once the watch is open (etcd down: it keeps trying). */
  async start(): Promise<void> {
    this.#schedule(0)
    for (let wait = 250; !this.#stopped; wait = Math.min(wait * 2, 5000)) {
      try {
        const watcher = await this.options.client.watch().key(schedulerKeys(this.prefix).registryPush).create()
        watcher.on('put', (kv) => this.#pushed(kv.value.toString('utf8')))
        watcher.on('error', () => undefined)
        if (this.#stopped) await watcher.cancel()
        else this.#watcher = watcher
        return
      } catch {
        await new Promise((resolve) => setTimeout(resolve, wait).unref?.())
      }
    }
  }

  /** Stops polling and watching; a check in flight ends first. */
  async stop(): Promise<void> {
    this.#stopped = true
    clearTimeout(this.#timer)
    await this.#watcher?.cancel().catch(() => undefined)
    await this.#chain
  }

  /** Checks the named services now (every due one when none is named); checks run one after another. */
  checkNow(names?: readonly string[]): Promise<void> {
    this.#chain = this.#chain.then(() => this.#round(names)).catch((error: Error) => this.options.log?.(`auto-upgrade: ${error.message.split('\n')[0]}`))
    return this.#chain
  }

  /** Looks the service's tag up and stores the new digest when it moved and the spec did not change meanwhile. */
  async check(name: string, spec: ServiceSpec): Promise<CheckOutcome> {
    const {store, lookup, registry} = this.options
    let digest: string
    try {
      digest = await lookup(qualifiedImage(spec.image, registry), await this.options.credentials?.(spec))
    } catch (error) {
      return {service: name, result: 'failed', error: (error as Error).message}
    }
    if (digest === spec.imageDigest) return {service: name, result: 'current', digest}
    // A deploy that came in during the lookup wins: its spec is newer than the one looked up.
    const now = (await store.services()).get(name)
    if (now === undefined || canonicalJson(now) !== canonicalJson(spec)) return {service: name, result: 'superseded'}
    if (!this.options.isLeader()) return {service: name, result: 'not leading'}
    const next: ServiceSpec = {...spec, imageDigest: digest}
    // Storing a spec whose rollout already failed would roll it out and back again at every poll.
    const rollout = await this.options.client.get(rolloutKeys(name, this.prefix).rollout).json().catch(() => null) as RolloutRecord | null
    if (rollout && rollout.from === shortSpecHash(next) && (rollout.state === 'rolling-back' || rollout.state === 'rolled-back')) {
      return {service: name, result: 'held', digest, reason: `the rollout to ${digest} was rolled back: ${rollout.message ?? ''}`}
    }
    await store.putService(name, next)
    await store.appendAudit(auditEntry({
      action: 'service.auto-upgrade', target: name, before: specHash(spec), after: specHash(next),
      detail: {image: spec.image, from: spec.imageDigest ?? 'unpinned', to: digest},
    }, {via: 'agent', claimed: {host: this.options.machine}}))
    this.options.log?.(`auto-upgrade: ${name} (${spec.image}) ${spec.imageDigest ?? 'unpinned'} -> ${digest}`)
    return {service: name, result: 'upgraded', ...(spec.imageDigest ? {from: spec.imageDigest} : {}), to: digest}
  }

  async #round(names?: readonly string[]): Promise<void> {
    if (this.#stopped) return
    if (!this.options.isLeader()) {
      // A successor's first round looks at every service at once, and so does this agent if it leads again.
      this.#due.clear()
      return
    }
    const services = await this.options.store.services()
    const now = Date.now()
    for (const name of names ?? dueServices(services, this.#due, now)) {
      const spec = services.get(name)
      const seconds = spec && autoUpgradePollSeconds(spec)
      if (!spec || seconds === undefined) continue
      this.#due.set(name, now + seconds * 1000)
      const outcome = await this.check(name, spec)
      if (outcome.result === 'failed') this.options.log?.(`auto-upgrade: ${name}: ${outcome.error}`)
      this.onCheck?.(outcome)
    }
  }

  #pushed(text: string): void {
    let record: RegistryPushRecord
    try {
      record = JSON.parse(text) as RegistryPushRecord
    } catch {
      return
    }
    if (!this.options.isLeader() || !Array.isArray(record.pushes)) return
    void this.options.store.services().then((services) => {
      const names = [...services].filter(([, spec]) => autoUpgradePollSeconds(spec) !== undefined && record.pushes.some((p) => followsPush(spec, this.options.registry, p))).map(([name]) => name)
      if (names.length > 0) return this.checkNow(names)
    }, (error: Error) => this.options.log?.(`auto-upgrade: cannot read the services: ${error.message.split('\n')[0]}`))
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => void this.checkNow().finally(() => this.#schedule(this.options.tickMs ?? 5000)), delayMs)
    this.#timer.unref?.()
  }
}
