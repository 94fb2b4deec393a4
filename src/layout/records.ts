/**
 * What berth keeps about machines in etcd, under the cluster's prefix (default `/berth`).
 * The installer writes `installed`, the agent keeps `agent` fresh under a lease (so it
 * disappears when the agent dies), and rolling-upgrade keeps its progress; status and the
 * upgrade health gates read them. Service specs and sealed secrets live beside them
 * (`services/<name>`, `secrets/<name>`, see src/agent/store/store-etcd.ts).
 */

/** The default key prefix of a cluster's records in etcd. */
export const ETCD_PREFIX = '/berth'

/** `<prefix>/services/`: one key a service, its spec as JSON. */
export function servicesDir(prefix = ETCD_PREFIX): string {
  return `${prefix}/services/`
}

/** The key of one service's spec. */
export function serviceKey(service: string, prefix = ETCD_PREFIX): string {
  return `${servicesDir(prefix)}${service}`
}

/** The service a key under servicesDir names, or undefined for another key. */
export function parseServiceKey(key: string, prefix = ETCD_PREFIX): string | undefined {
  const dir = servicesDir(prefix)
  return key.startsWith(dir) && key.length > dir.length ? key.slice(dir.length) : undefined
}

/** `<prefix>/secrets/`: one key a secret, its sealed blob. */
export function secretsDir(prefix = ETCD_PREFIX): string {
  return `${prefix}/secrets/`
}

/** `<prefix>/audit/`: one key per entry, named by its time-sortable id. */
export function auditDir(prefix = ETCD_PREFIX): string {
  return `${prefix}/audit/`
}

/** `<prefix>/machines/<machine>/installed`: what the installer last did on the machine. */
export interface InstalledRecord {
  version: string
  image: string
  result: 'ok' | 'failed'
  error?: string
  at: string
}

/** `<prefix>/machines/<machine>/agent`: the agent's last pass, refreshed under a lease. */
export interface AgentRecord {
  version: string
  converged: boolean
  lastPass: string
  /** Service name → systemd ActiveState of its unit. */
  services: Record<string, string>
  errors: Record<string, string>
  /** Service name → the health of its copy on this machine (src/agent/health/); absent from agents before health checks. */
  health?: Record<string, ReplicaHealth>
}

/** A copy's health as its agent observes it: `starting` until it first passes (or has run long enough, without a check); `draining` while balancers are told it is about to stop (src/agent/drain/drain.ts). */
export interface ReplicaHealth {
  status: 'starting' | 'healthy' | 'unhealthy' | 'draining'
  /** When it entered this status (ISO 8601). */
  since: string
  /** Consecutive failed checks that counted (failures in the start period do not). */
  failures: number
  /** The last failed check's reason, until a check passes. */
  lastError?: string
  /** The kind of check; `none` is "healthy once it has run for minHealthySeconds". */
  check: 'http' | 'tcp' | 'exec' | 'none'
  /** The container checked (12 hex digits). */
  container?: string
  /**
   * The short spec hash of the revision this copy's agent runs and checks: a rollout counts
   * a copy's health towards its target only under the target's revision.
   */
  revision?: string
}

/** True when a copy counts as healthy: the one rule rollouts and the metrics gauge share. */
export function isHealthy(health: ReplicaHealth | undefined): boolean {
  return health?.status === 'healthy'
}

/** `<prefix>/machines/<machine>/facts`: what the scheduler places by, as the machine's agent reports it (no lease: a leader still knows a machine that is gone). */
export interface MachineFacts {
  role: 'main' | 'worker' | 'data'
  labels: Record<string, string>
  /** Memory in MB and CPUs this machine offers to replicas' reservations. */
  capacity: {memoryMb: number; cpus: number}
}

/** `<prefix>/assignments/<service>/<replica>`: which machine runs a replica, written by the scheduler's leader only. */
export interface AssignmentRecord {
  machine: string
  /**
   * The short hash (16 hex) of the spec revision the replica runs: the agent runs that
   * revision's spec (`<prefix>/revisions/<service>/`), so the leader rolls a change by
   * moving assignments to the new hash a batch at a time (src/scheduler/rollout.ts).
   */
  specHash: string
  /** When the replica was put on this machine. */
  since: string
}

/** `<prefix>/scheduler/pending`: the replicas the last placement could not place, and why. */
export interface PendingRecord {
  at: string
  leader: string
  pending: {replica: string; service: string; reason: string}[]
}

/** `<prefix>/rolling-upgrade`: a rolling upgrade's plan and how far it got (resumable). */
export interface RollingUpgradeRecord {
  id: string
  image: string
  /** Machine names in the order the plan takes them. */
  order: string[]
  done: string[]
  failed?: {machine: string; step: string; reason: string}
  startedAt: string
  finishedAt?: string
}

/** The etcd keys of one machine's records. */
export function machineKeys(machine: string, prefix = ETCD_PREFIX) {
  return {
    dir: `${prefix}/machines/${machine}/`,
    installed: `${prefix}/machines/${machine}/installed`,
    agent: `${prefix}/machines/${machine}/agent`,
    /** Present while the machine is drained (`berth machine drain`): it gets no replicated work. */
    drain: `${prefix}/machines/${machine}/drain`,
    /** The machine's facts (MachineFacts), kept without a lease. */
    facts: `${prefix}/machines/${machine}/facts`,
    /**
     * `{since}` (ISO 8601): when the scheduler's leader first saw the machine without its
     * agent record. No lease, so a new leader's lost clock goes on from it rather than
     * starting again; the leader deletes it when the agent is back.
     */
    missing: `${prefix}/machines/${machine}/missing`,
  }
}

/** The directory of every machine's records. */
export function machinesDir(prefix = ETCD_PREFIX): string {
  return `${prefix}/machines/`
}

/** The machine and the kind of record (`agent`, `drain`, …) a key under machinesDir names, or undefined. */
export function parseMachineKey(key: string, prefix = ETCD_PREFIX): {machine: string; kind: string} | undefined {
  const dir = machinesDir(prefix)
  if (!key.startsWith(dir)) return undefined
  const [machine, kind, ...rest] = key.slice(dir.length).split('/')
  return machine && kind && rest.length === 0 ? {machine, kind} : undefined
}

/**
 * The scheduler's keys: the election its candidates campaign in (etcd3's Election keeps
 * `<prefix>/scheduler/election/leader/<lease>` there), the pending list, and the assignments.
 */
export function schedulerKeys(prefix = ETCD_PREFIX) {
  return {
    namespace: `${prefix}/scheduler/`,
    election: 'leader',
    pending: `${prefix}/scheduler/pending`,
    assignments: `${prefix}/assignments/`,
    /** The last registry push any agent was told of (a RegistryPushRecord): the leader's auto-upgrade watches it. */
    registryPush: `${prefix}/scheduler/registry-push`,
  }
}

/** What an agent writes when the registry tells it of pushes: which tags moved, and when. */
export interface RegistryPushRecord {
  at: string
  /** The agent that was told. */
  machine: string
  pushes: {repository: string; tag: string; digest?: string}[]
}

/** The key of one replica's assignment. */
export function assignmentKey(service: string, replica: string, prefix = ETCD_PREFIX): string {
  return `${schedulerKeys(prefix).assignments}${service}/${replica}`
}

/** The service and replica an assignment key names, or undefined. */
export function parseAssignmentKey(key: string, prefix = ETCD_PREFIX): {service: string; replica: string} | undefined {
  const dir = schedulerKeys(prefix).assignments
  if (!key.startsWith(dir)) return undefined
  const [service, replica, ...rest] = key.slice(dir.length).split('/')
  return service && replica && rest.length === 0 ? {service, replica} : undefined
}

/** The key of the rolling upgrade's progress. */
export function rollingUpgradeKey(prefix = ETCD_PREFIX): string {
  return `${prefix}/rolling-upgrade`
}

/** The keys of the scheduled etcd snapshots: the lock the taker holds, and the last one taken (a SnapshotRecord). */
export function snapshotKeys(prefix = ETCD_PREFIX) {
  return {lock: `${prefix}/snapshots/lock`, last: `${prefix}/snapshots/last`}
}

/** The last scheduled snapshot: which machine took it, its file there, when, at which revision. */
export interface SnapshotRecord {
  machine: string
  file: string
  takenAt: string
  revision: string
}

/** `<prefix>/revisions/<service>/<seq>`: one stored spec of a service, appended with every change in the same transaction (the last REVISIONS_KEPT). */
export interface RevisionRecord {
  /** 1, 2, 3, ... per service; never reused, so `--to REV` names one spec for good. */
  seq: number
  spec: unknown
  /** The spec's short hash, as assignments name it. */
  hash: string
  at: string
  /** Who made it: the admin API, the CLI, an agent (auto-upgrade), or the scheduler rolling a failed update back. */
  origin: 'api' | 'cli' | 'agent' | 'scheduler' | 'unknown'
  /** A few words: `rollback to 3`, `update`. */
  note?: string
}

/** How many revisions each service keeps: Swarm keeps 5 tasks, Kubernetes 10 ReplicaSets, Nomad 6 job versions; 10 spans a working week of deploys for a few KB. */
export const REVISIONS_KEPT = 10

/** A rollout's state: rolling, stopped at a failure (pause), rolling back after one, or over. */
export type RolloutState = 'running' | 'paused' | 'rolling-back' | 'rolled-back' | 'completed'

/** `<prefix>/rollouts/<service>`: a spec change rolling across a replicated service's replicas, written by the scheduler's leader only (fenced). */
export interface RolloutRecord {
  service: string
  /** The short hash the replicas ran before, and the one they move to. */
  from: string
  to: string
  /** The revisions of those hashes, where they are still kept. */
  fromRevision?: number
  toRevision?: number
  state: RolloutState
  batchesDone: number
  /** The batch moved last and not yet healthy: its replicas, the containers they ran before, and its deadline. */
  batch?: {replicas: string[]; old: Record<string, string>; startedAt: string; deadline: string; surge?: boolean}
  /** start-first: the extra copies of the new spec were healthy; the old copies are replaced in place while they serve. */
  surged?: boolean
  startedAt: string
  updatedAt: string
  /** Why it paused or rolled back, or how it ended. */
  message?: string
}

/** The keys of a service's spec, revisions and rollout. */
export function rolloutKeys(service: string, prefix = ETCD_PREFIX) {
  return {
    service: serviceKey(service, prefix),
    revisions: `${prefix}/revisions/${service}/`,
    rollout: `${prefix}/rollouts/${service}`,
  }
}

/** Every rollout's key starts here. */
export function rolloutsDir(prefix = ETCD_PREFIX): string {
  return `${prefix}/rollouts/`
}

/** Every service's revisions start here. */
export function revisionsDir(prefix = ETCD_PREFIX): string {
  return `${prefix}/revisions/`
}

/** The key of one revision; the sequence is zero-padded so etcd's key order is revision order. */
export function revisionKey(service: string, seq: number, prefix = ETCD_PREFIX): string {
  return `${rolloutKeys(service, prefix).revisions}${String(seq).padStart(10, '0')}`
}
