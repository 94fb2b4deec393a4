/**
 * The service spec's shape and its defaults: what a cluster.yaml service, a stored spec and
 * a unit are made of. Pure types and constants; validation lives in service.ts and checks.ts.
 */

/**
 * The role of a machine, and so the roles a service may be placed on: main machines are
 * etcd members; data machines run only the services that name them. The one type for it
 * (cluster.yaml, node.json, the agent's options).
 */
export type MachineRole = 'main' | 'worker' | 'data'

/** systemd's Restart= policies a service may choose. */
export type RestartPolicy = 'always' | 'on-failure' | 'no'

/** An environment value; objects and arrays reach the container as JSON. */
export type EnvValue = string | number | boolean | null | EnvValue[] | {[key: string]: EnvValue}

/** A host directory bound into the container. */
export interface Mount {
  source: string
  target: string
  readOnly?: boolean
}

/** A service as written by its author (schema/service.schema.json), before defaults. */
export interface ServiceSpecInput {
  image: string
  command?: string[]
  env?: Record<string, EnvValue>
  secrets?: string[]
  /** A service secret holding the Docker registry auth (JSON) for this image's pulls only; never an env var. */
  pullSecret?: string
  ports?: string[]
  volumes?: string[]
  mounts?: Mount[]
  user?: string
  capabilities?: {add?: string[]; drop?: string[]}
  memory?: string
  readOnly?: boolean
  labels?: Record<string, string>
  stopTimeout?: StopTimeout
  restart?: RestartPolicy
  /** A shorthand of `placement.roles`; a spec gives one of the two. */
  roles?: MachineRole[]
  /** Neither mode nor replicas: global, one copy on every eligible machine (what berth always did). */
  mode?: ServiceMode
  /** Copies of a replicated service (mode replicated, default 1); not with mode global. */
  replicas?: number
  placement?: Placement
  resources?: Resources
  /** How the agent checks each copy (src/agent/health/); without it, healthy after {@link MIN_HEALTHY_SECONDS}. */
  health?: HealthCheck
  /**
   * The digest `image`'s tag pointed at when the spec was stored (`sha256:…`): set by the
   * admin API on every PUT (src/images/pin.ts) and by auto-upgrade; units run `image@digest`.
   */
  imageDigest?: string
  /** Follow the image's tag: the scheduler's leader stores the new digest when the tag moves (src/scheduler/auto-upgrade.ts). */
  autoUpgrade?: boolean | AutoUpgrade
  /** How a changed spec rolls across a replicated service's replicas (src/scheduler/rollout.ts); defaults: {@link updateDefaults}. */
  update?: UpdatePolicy
}

/** How a service follows its tag; `true` is every default. */
export interface AutoUpgrade {
  /** Seconds between lookups of the tag (default {@link AUTO_UPGRADE_POLL_SECONDS}); push notifications wake it sooner. */
  pollSeconds?: number
}

/** Seconds between two lookups of an auto-upgraded service's tag unless it says otherwise. */
export const AUTO_UPGRADE_POLL_SECONDS = 60

/** The poll interval of a service that follows its tag, in seconds, or undefined when it does not. */
export function autoUpgradePollSeconds(spec: Pick<ServiceSpecInput, 'autoUpgrade'>): number | undefined {
  if (spec.autoUpgrade === undefined || spec.autoUpgrade === false) return undefined
  return spec.autoUpgrade === true ? AUTO_UPGRADE_POLL_SECONDS : spec.autoUpgrade.pollSeconds ?? AUTO_UPGRADE_POLL_SECONDS
}


/** A rolling update's policy as written (schema/service.schema.json `update`); every field optional. */
export interface UpdatePolicy {
  /** Replicas moved to the new spec at a time. */
  parallelism?: number
  /**
   * stop-first: each batch's old copies stop before their new ones start. start-first (no
   * fixed host port): `parallelism` extra copies of the new spec start first and must be
   * healthy; then the old copies are replaced in place, one batch at a time, while the extra
   * ones serve; the extra copies go when the rollout ends. A global service rolls
   * stop-first whatever this says: its one copy per machine has one container name, so no
   * second copy can start beside it (not refused: specs stored before global services
   * rolled keep validating).
   */
  order?: 'stop-first' | 'start-first'
  /** Seconds a copy without a health check must run to count as healthy. */
  minHealthySeconds?: number
  /** Seconds a batch may take to be healthy before failureAction. */
  healthyDeadline?: number
  failureAction?: 'rollback' | 'pause'
  /**
   * Seconds a copy answers "not ready" to balancers (the agent's readiness route and its
   * agent-check) before the agent stops it for a change, a removal, a move or a scale-down:
   * Kamal's drain timeout, Kubernetes' preStop sleep, for a balancer berth does not drive.
   */
  drainSeconds?: number
}

/**
 * The update policy a spec leaves out: one replica at a time and roll back on failure
 * (Swarm's parallelism 1, Nomad's max_parallel 1 and auto_revert), stop-first (Swarm's
 * default; the only order a stable replica id allows on one machine), healthy after 10 s
 * without a check (Nomad's min_healthy_time), and 120 s for a batch to become healthy:
 * long enough for a pull, a start and a few 10 s checks, shorter than Nomad's 5 min
 * because a cluster's images come from its own registry. No drain time of its own (0): the
 * balancers berth drives (the local cluster's HAProxy, through the agent-check) are drained
 * as long as it takes to tell them, and one berth does not drive needs its own figure.
 */
export const updateDefaults = {parallelism: 1, order: 'stop-first', minHealthySeconds: 10, healthyDeadline: 120, failureAction: 'rollback', drainSeconds: 0} as const

/** True when the spec publishes a port on a fixed host port (`8080:80`, `10.0.0.1:8080:80`): two copies cannot share a machine. */
export function hasFixedHostPort(spec: Pick<ServiceSpecInput, 'ports'>): boolean {
  return (spec.ports ?? []).some((port) => port.split('/')[0]!.split(':').length > 1)
}

/** A spec's update policy with the defaults filled in. */
export function updatePolicy(spec: Pick<ServiceSpecInput, 'update'>): Required<UpdatePolicy> {
  return {...updateDefaults, ...spec.update}
}

/** global: one copy on every eligible machine; replicated: `replicas` copies placed by the scheduler. */
export type ServiceMode = 'replicated' | 'global'

/** Which machines may run a service's copies (schema/service.schema.json `placement`). */
export interface Placement {
  roles?: MachineRole[]
  /** `name|labels.KEY == VALUE`, `!= VALUE`, `in (V1, V2)` (src/scheduler/constraint.ts). */
  constraints?: string[]
  /** A machine label key: copies are spread across its values first. */
  spread?: string
  maxPerMachine?: number
}

/** Reservations of each copy, held against its machine's capacity; `memory` is written as the limit is (256m). */
export interface Resources {
  memory?: string
  cpus?: number
}

/** The fields only the scheduler reads: they decide where copies run and how a change rolls, not how a container runs. */
export const SCHEDULING_FIELDS = ['mode', 'replicas', 'placement', 'resources', 'update'] as const

/** Fields only the leader's auto-upgrade reads: turning it on or off must not restart a copy. */
export const WATCH_FIELDS = ['autoUpgrade'] as const

/**
 * A service's health check as written: exactly one of `http`, `tcp` or `exec`, with its
 * timing in seconds (numbers, as `stopTimeout` is). Defaults: {@link healthDefaults}.
 */
export interface HealthCheck {
  /** A GET on the container's own address; passes on `status`, or any 2xx when it is not given. */
  http?: {path?: string; port: number; status?: number}
  /** A TCP connect to the container's own address. */
  tcp?: {port: number}
  /** argv run in the container without a shell; passes on exit 0. */
  exec?: string[]
  interval?: number
  timeout?: number
  retries?: number
  startPeriod?: number
}

/**
 * Health check timing a spec leaves out, in seconds: Docker's retries (3) and start period
 * (0), a 10 s interval and a 5 s timeout (Docker's 30 s for both is too slow to gate a
 * rolling update; Nomad and Consul have no defaults and their examples use 10 s and 2 s).
 */
export const healthDefaults = {interval: 10, timeout: 5, retries: 3, startPeriod: 0, httpPath: '/'} as const

/** Seconds a copy without a health check must have run (container up) to count as healthy, unless `update.minHealthySeconds` says otherwise. */
export const MIN_HEALTHY_SECONDS: number = updateDefaults.minHealthySeconds

/**
 * Seconds between SIGTERM and SIGKILL when a service stops, or `infinity`: docker and
 * systemd then wait for the container however long it takes and never kill it.
 */
export type StopTimeout = number | 'infinity'

/**
 * A validated service with every default filled in: what units are rendered from. Its roles
 * are the one list of roles (`placement.roles` is moved there, so a validated spec validates
 * again unchanged); mode and replicas are left as written (src/scheduler/demand.ts reads
 * them), so specs written before the scheduler keep their bytes and their spec hash.
 */
export interface ServiceSpec extends ServiceSpecInput {
  stopTimeout: StopTimeout
  restart: RestartPolicy
  roles: MachineRole[]
  placement?: Omit<Placement, 'roles'>
}

/** The defaults a spec gets for the fields it leaves out. */
export const specDefaults = {stopTimeout: 10, restart: 'always', roles: ['main', 'worker']} as const
