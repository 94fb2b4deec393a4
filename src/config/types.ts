import type {MachineRole} from '../spec/service.js'
import type {ServiceSpecInput} from '../spec/types.js'
import type {ServiceBuild, ServiceDocument} from './build.js'

/** The machine role (src/spec/service.ts), under the name config code has always imported. */
export type Role = MachineRole

/** How node secrets rest on a machine: sealed to it by systemd-creds, sealed with AWS KMS, or in memory only. */
export type NodeSecretsMode = 'systemd-creds' | 'kms' | 'memory'

/** An AWS KMS key, and where to reach KMS when it is not AWS's own endpoint. */
export interface KmsKey {
  keyId: string
  region?: string
  endpoint?: string
}

/** The node-secrets setting with its default filled in; `kms` is there exactly when the mode is kms. */
export interface NodeSecrets {
  mode: NodeSecretsMode
  kms?: KmsKey
}

/** One machine as cluster.yaml describes it. */
export interface Machine {
  name: string
  ip: string
  role: MachineRole
  labels: Record<string, string>
}

/** A cluster with every default filled in: what the rest of berth works with. */
export interface Cluster {
  /** Where it was read from, for messages; undefined for one built from flags. */
  file?: string
  name: string
  unitPrefix: string
  registry: {url: string; insecure: boolean}
  installer: {image: string}
  /** keyFiles: the public key files named in cluster.yaml, as absolute paths. */
  ssh: {user: string; authorizedKeys: string[]; keyFiles: string[]}
  /** snapshots: the scheduled snapshots (absent for a cluster built from flags: the defaults apply). */
  etcd: {clientPort: number; peerPort: number; token: string; snapshots?: SnapshotSchedule}
  nodeSecrets: NodeSecrets
  /** The scheduler's settings (absent for a cluster built from flags: the defaults apply). */
  scheduler?: {lostAfter: string}
  machines: Machine[]
  /**
   * The services as cluster.yaml writes them, without `build`, each checked by the agent's
   * own rules (checks.ts serviceProblems); defaults are left to the installer, which
   * validates again.
   */
  services: Record<string, ServiceSpecInput>
  /** How berth builds the images of the services that carry `build` (taken out of `services`). */
  builds?: Record<string, ServiceBuild>
}

/** The shape of cluster.yaml before defaults (what the JSON Schema describes). */
export interface ClusterDocument {
  name: string
  unitPrefix?: string
  registry: {url: string; insecure?: boolean}
  installer?: {image?: string}
  ssh: {user?: string; authorizedKeys?: string[]; authorizedKeyFiles?: string[]}
  etcd?: {clientPort?: number; peerPort?: number; token?: string; snapshots?: Partial<SnapshotSchedule>}
  nodeSecrets?: {mode?: NodeSecretsMode; kms?: KmsKey}
  scheduler?: {lostAfter?: string}
  machines: {name: string; ip: string; role: MachineRole; labels?: Record<string, string>}[]
  services?: Record<string, ServiceDocument>
}

/** cluster.yaml's `etcd.snapshots`: how often a main machine's agent snapshots etcd, and how many it keeps. */
export interface SnapshotSchedule {
  /** `<n>s`, `<n>m` or `<n>h`. */
  interval: string
  keep: number
}

/**
 * Hourly, a day's worth: etcd's data of a cluster this size is a few MB, so 24 files cost
 * little, and an hour is the most desired state a restore can lose (changes are rare and
 * redone with `berth service`); a point from yesterday is there when a bad change is
 * noticed late.
 */
export const SNAPSHOT_DEFAULTS: SnapshotSchedule = {interval: '1h', keep: 24}

/** The scheduler's grace for a machine gone (agent option LOST_AFTER_SECONDS explains the default). */
export const SCHEDULER_DEFAULTS = {lostAfter: '5s'} as const

/** The seconds an `etcd.snapshots.interval` stands for. */
export function intervalSeconds(interval: string): number {
  const n = Number(interval.slice(0, -1))
  return n * ({s: 1, m: 60, h: 3600} as Record<string, number>)[interval.slice(-1)]!
}

export const DEFAULTS = {
  unitPrefix: 'berth-',
  installerImage: 'berth/installer:latest',
  sshUser: 'root',
  clientPort: 2379,
  peerPort: 2380,
  nodeSecretsMode: 'systemd-creds',
} as const

/** etcd's own limits: a quorum of more than 9 voters gets slower, not safer. */
export const MAX_MAIN_MACHINES = 9

/** The array at a key of a document that may not have passed the schema yet. */
export function arrayOf<T>(value: T[] | undefined): T[] {
  return Array.isArray(value) ? value : []
}
