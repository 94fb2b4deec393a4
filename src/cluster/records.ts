/**
 * What berth keeps about machines in etcd, under the cluster's prefix (default `/berth`).
 * The installer writes `installed`, the agent keeps `agent` fresh under a lease (so it
 * disappears when the agent dies), and rolling-upgrade keeps its progress; status and the
 * upgrade health gates read them. Service specs and sealed secrets live beside them
 * (`services/<name>`, `secrets/<name>`, see src/agent/store-etcd.ts).
 */

/** The default key prefix of a cluster's records in etcd. */
export const ETCD_PREFIX = '/berth'

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

/** A copy's health as its agent observes it: `starting` until it first passes (or has run long enough, without a check). */
export interface ReplicaHealth {
  status: 'starting' | 'healthy' | 'unhealthy'
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
  }
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
