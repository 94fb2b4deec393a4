import type Dockerode from 'dockerode'

import type {ReplicaHealth} from '../../layout/records.js'
import {containerName} from '../../layout/node.js'
import {canonicalJson, shortSpecHash} from '../../hash.js'
import type {NodeContainer} from '../node/node-ops.js'
import {healthDefaults, type HealthCheck, type ServiceSpec} from '../../spec/service.js'
import {checkKind, checkTiming, ReplicaChecker, uncheckedHealth} from './checker.js'
import {probeExec, probeHttp, probeTcp, type ProbeResult} from './probe.js'
import {readiness, type Readiness} from '../drain/drain.js'
import {serviceOfReplica} from '../../scheduler/types.js'

/**
 * The agent's health checks: for every desired service with a running container on this
 * node, a {@link ReplicaChecker} fed by probes on the check's interval. It runs beside the
 * reconcile loop on timers of its own; the loop only hands it the desired services after
 * each pass (`setServices`), and no probe is ever awaited by a pass. Containers are listed
 * again every few seconds, so one that systemd restarted is checked afresh.
 */

/** A running container as the monitor needs it: its address on the bridge and its start time. */
export interface ContainerFacts {
  /** The container's IPv4 address on its Docker network; absent when it has none. */
  ip?: string
  /** dockerd's State.StartedAt, epoch milliseconds. */
  startedAt: number
}

/** What the monitor works with; {@link dockerHealthDeps} gives the real ones. */
export interface HealthDeps {
  prefix: string
  containers(): Promise<NodeContainer[]>
  inspect(id: string): Promise<ContainerFacts>
  probe(check: HealthCheck, target: {containerId: string; ip?: string}, timeoutMs: number): Promise<ProbeResult>
  now?: () => number
  /** Called when some copy's health changed (the reporter writes the record again). */
  onChange?: () => void
  /**
   * The `berth.spec-hash` label a container of this spec carries (the unit renderer's). A
   * running container with another one is the previous spec's, still there until the pass
   * replaces it: it is not checked under the new spec's check. Absent: every container counts.
   */
  expectedSpecHash?: (service: string, spec: ServiceSpec) => string
  /** How often the container list is read again, ms (default 5000; at most every second while a desired copy has no current container). */
  refreshMs?: number
  /** How often due probes are started, ms (default 250). */
  tickMs?: number
  /** The drain of a copy that is about to stop (src/agent/drain/drainer.ts): its health shows `draining` meanwhile. */
  draining?: (copy: string) => {since: number} | undefined
  log?: (line: string) => void
}

interface Replica {
  containerId: string
  /** The desired spec's short hash when the checker was made. */
  revision: string
  /** The check as JSON: a changed check starts a fresh checker. */
  checkKey: string
  facts: ContainerFacts
  checker?: ReplicaChecker
  nextAt: number
  inFlight: boolean
}

/** Health checks of this node's copies, and their health for the agent's record. */
export class HealthMonitor {
  #services = new Map<string, ServiceSpec>()
  /** Each desired service's short spec hash: the revision its health is reported under. */
  #revisions = new Map<string, string>()
  #replicas = new Map<string, Replica>()
  #waiting = new Map<string, ReplicaHealth>()
  #refreshedAt = -Infinity
  #refreshing?: Promise<void>
  #timer?: NodeJS.Timeout
  #last = ''
  readonly #now: () => number

  constructor(readonly deps: HealthDeps) {
    this.#now = deps.now ?? Date.now
  }

  /**
   * The services this node should run, after a pass; their containers are looked up at once.
   * `revisions` are the hashes the loop already knows (each replica's assignment names its
   * revision): only the other copies' specs are hashed here.
   */
  setServices(services: ReadonlyMap<string, ServiceSpec>, revisions: ReadonlyMap<string, string> = new Map()): void {
    this.#services = new Map(services)
    this.#revisions = new Map([...services].map(([name, spec]) => [name, revisions.get(name) ?? shortSpecHash(spec)]))
    this.#refreshedAt = -Infinity
    if (!this.#timer) this.start()
  }

  /** Starts the probe timer (setServices starts it too). */
  start(): void {
    if (this.#timer) return
    this.#timer = setInterval(() => void this.tick(), this.deps.tickMs ?? 250)
    this.#timer.unref?.()
  }

  /** Stops probing; probes in flight finish on their own timeouts. */
  stop(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** One step: refresh the containers when due, start every due probe; never throws, never waits for a probe. */
  async tick(): Promise<void> {
    const now = this.#now()
    const refreshMs = this.deps.refreshMs ?? 5000
    if (now - this.#refreshedAt >= (this.#waiting.size > 0 ? Math.min(refreshMs, 1000) : refreshMs)) {
      this.#refreshing ??= this.#refresh().catch((error: Error) => this.deps.log?.(`health: cannot list containers: ${error.message}`)).finally(() => (this.#refreshing = undefined))
      await this.#refreshing
    }
    for (const [service, replica] of this.#replicas) {
      const check = this.#services.get(service)?.health
      if (!check || replica.inFlight || replica.nextAt > this.#now()) continue
      void this.#probe(service, check, replica)
    }
    this.#notifyIfChanged()
  }

  /** Each desired service's health on this node, by service name. */
  health(): Record<string, ReplicaHealth> {
    const now = this.#now()
    const out: Record<string, ReplicaHealth> = {}
    for (const service of [...this.#services.keys()].sort()) {
      const health = this.replicaHealth(service, now)
      if (health) out[service] = health
    }
    return out
  }

  /** The health of the service's copy on this node (`draining` while it drains before a stop), or undefined when the service is not desired here. */
  replicaHealth(service: string, now = this.#now()): ReplicaHealth | undefined {
    const health = this.#checkedHealth(service, now)
    const drain = health && this.deps.draining?.(service)
    return drain ? {...health, status: 'draining', since: new Date(drain.since).toISOString()} : health
  }

  /** What balancers are told about a service (`ready` or `drain`) from the health of its copies here. */
  readiness(service: string): Readiness {
    const now = this.#now()
    return readiness([...this.#services.keys()].filter((copy) => serviceOfReplica(copy) === service).map((copy) => this.replicaHealth(copy, now)))
  }

  #checkedHealth(service: string, now: number): ReplicaHealth | undefined {
    const spec = this.#services.get(service)
    if (!spec) return undefined
    const replica = this.#replicas.get(service)
    if (!replica) return this.#waiting.get(service)
    const short = replica.containerId.slice(0, 12)
    const health = replica.checker ? replica.checker.health : uncheckedHealth(replica.facts.startedAt, now, short, spec.update?.minHealthySeconds)
    return {...health, revision: replica.revision}
  }

  async #refresh(): Promise<void> {
    const running = new Map<string, NodeContainer>()
    for (const c of await this.deps.containers()) if (c.running && c.service) running.set(c.name, c)
    this.#refreshedAt = this.#now()
    for (const service of [...this.#replicas.keys(), ...this.#waiting.keys()]) {
      if (!this.#services.has(service)) {
        this.#replicas.delete(service)
        this.#waiting.delete(service)
      }
    }
    for (const [service, spec] of this.#services) {
      const container = running.get(containerName(this.deps.prefix, service))
      const revision = this.#revisions.get(service) ?? shortSpecHash(spec)
      const previous = container && this.deps.expectedSpecHash && container.specHash !== this.deps.expectedSpecHash(service, spec)
      if (!container || previous) {
        // Nothing of this spec runs yet: the copy is starting, whatever the container it replaces would answer.
        this.#replicas.delete(service)
        const short = container?.id.slice(0, 12)
        const waiting = this.#waiting.get(service)
        if (waiting?.container !== short || waiting?.revision !== revision) {
          const lastError = short ? `container ${short} runs the spec before; waiting for its replacement` : 'no running container'
          this.#waiting.set(service, {status: 'starting', since: new Date(this.#now()).toISOString(), failures: 0, lastError, check: checkKind(spec.health), ...(short ? {container: short} : {}), revision})
        }
        continue
      }
      this.#waiting.delete(service)
      const checkKey = canonicalJson(spec.health ?? null)
      const known = this.#replicas.get(service)
      if (known && known.containerId === container.id && known.checkKey === checkKey && known.revision === revision) continue
      const facts = await this.deps.inspect(container.id).catch(() => undefined)
      if (!facts) continue
      const now = this.#now()
      const checker = spec.health ? new ReplicaChecker(facts.startedAt, checkTiming(spec.health), now, checkKind(spec.health), container.id.slice(0, 12)) : undefined
      this.#replicas.set(service, {containerId: container.id, revision, checkKey, facts, checker, nextAt: now, inFlight: false})
    }
  }

  async #probe(service: string, check: HealthCheck, replica: Replica): Promise<void> {
    replica.inFlight = true
    const timing = checkTiming(check)
    try {
      const result = await this.deps.probe(check, {containerId: replica.containerId, ip: replica.facts.ip}, timing.timeoutMs)
        .catch((error: Error): ProbeResult => ({ok: false, error: error.message}))
      const at = this.#now()
      if (replica.checker?.record(result, at)) {
        const {health} = replica.checker
        this.deps.log?.(`health: ${service} (${replica.containerId.slice(0, 12)}) is ${health.status}${health.lastError ? ` (${health.lastError})` : ''}`)
      }
      replica.nextAt = at + timing.intervalMs
    } finally {
      replica.inFlight = false
    }
    this.#notifyIfChanged()
  }

  /** Calls onChange when any status changed since the last call (failure counts alone do not write etcd). */
  #notifyIfChanged(): void {
    const key = JSON.stringify(Object.entries(this.health()).map(([s, h]) => [s, h.status, h.container, h.revision]))
    if (key === this.#last) return
    this.#last = key
    this.deps.onChange?.()
  }
}

/** The real probes and container facts over one dockerode client. */
export function dockerHealthDeps(docker: () => Promise<Dockerode>): Pick<HealthDeps, 'inspect' | 'probe'> {
  return {
    async inspect(id) {
      const info = await (await docker()).getContainer(id).inspect()
      const networks = Object.values(info.NetworkSettings.Networks ?? {})
      const ip = (info.NetworkSettings as {IPAddress?: string}).IPAddress || networks.find((n) => n.IPAddress)?.IPAddress || undefined
      return {ip, startedAt: Date.parse(info.State.StartedAt)}
    },
    async probe(check, target, timeoutMs) {
      if (check.exec) return probeExec(await docker(), target.containerId, check.exec, timeoutMs)
      const port = check.http?.port ?? check.tcp?.port
      if (!target.ip || port === undefined) return {ok: false, error: 'the container has no address on a Docker network to check'}
      if (check.http) return probeHttp({host: target.ip, port, path: check.http.path ?? healthDefaults.httpPath, status: check.http.status}, timeoutMs)
      return probeTcp({host: target.ip, port}, timeoutMs)
    },
  }
}
