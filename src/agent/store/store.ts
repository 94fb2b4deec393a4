import type {AuditLog, AuditOrigin} from '../../audit/entry.js'
import type {RevisionRecord} from '../../layout/records.js'
import type {ServiceSpec} from '../../spec/service.js'

// The trail's interface is the audit folder's; the agent's stores and API name it from here too.
export type {AuditLog}

/** A replica assigned to a machine: its service, and the short hash of the spec revision it runs. */
export interface AssignedReplica {
  service: string
  specHash: string
}

/**
 * Where desired state lives: etcd in a cluster, PostgreSQL on a single host (the
 * az-coordinator mode), or a YAML file (the embedded default that needs no server). The
 * agent and the admin API see only this interface. A change given an `origin` is recorded
 * in the audit trail with the spec hash before and after (in the same transaction where
 * the store has them); a change that does nothing (deleting what is not there) is not.
 */
export interface DesiredStore extends AuditLog {
  /** Every desired service, by name, with its validated spec. */
  services(): Promise<Map<string, ServiceSpec>>
  putService(name: string, spec: ServiceSpec, origin?: AuditOrigin): Promise<void>
  /** Returns false when there was no such service. */
  deleteService(name: string, origin?: AuditOrigin): Promise<boolean>

  /** Names of the stored service secrets (never their values). */
  secretNames(): Promise<string[]>
  /** The sealed blob (envelope ciphertext) of a secret, or undefined. */
  sealedSecret(name: string): Promise<Buffer | undefined>
  putSealedSecret(name: string, blob: Buffer, origin?: AuditOrigin): Promise<void>
  deleteSecret(name: string, origin?: AuditOrigin): Promise<boolean>

  /**
   * The replicas the scheduler assigned to a machine (replica id → service and the spec
   * hash it runs), where a scheduler runs (etcd). Stores without one leave it out: the
   * host runs every replica.
   */
  assignedTo?(machine: string): Promise<Map<string, AssignedReplica>>
  /** The service's kept revisions, oldest first, where the store keeps them (etcd). */
  revisions?(name: string): Promise<RevisionRecord[]>

  /**
   * Calls `onChange` soon after anything this store holds changes (an etcd watch, a
   * PostgreSQL NOTIFY, a file watcher); returns a function that stops watching.
   */
  watch(onChange: () => void): Promise<() => Promise<void>>
  close(): Promise<void>
}
