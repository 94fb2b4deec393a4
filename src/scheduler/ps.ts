import {containerName} from '../layout/node.js'
import {type AgentRecord, type AssignmentRecord, ETCD_PREFIX, machinesDir, parseMachineKey, parseServiceKey, type PendingRecord, revisionsDir, rolloutKeys, rolloutsDir, type RolloutRecord, schedulerKeys, servicesDir} from '../layout/records.js'
import {parseRevisions, revisionOfHash} from './revisions.js'
import {rolloutLine} from './rollout-view.js'
import {UsageError} from '../errors.js'
import type {RecordStore} from '../etcd/records.js'
import {replicasOf} from '../spec/quantities.js'
import {storedAssignments} from './inputs.js'
import {replicaId, slotOrder} from './types.js'

/**
 * `berth service ps`: where every replica is, from etcd alone. A replicated service's
 * replicas come from the leader's assignments and its pending list; a global service's
 * copies (`web.main-1`) from the machines whose agents run it. The observed state is what
 * the machine's agent last reported for the replica's unit; a machine whose leased record
 * is gone shows `machine down`.
 */

/** One replica as `service ps` shows it. */
export interface ReplicaRow {
  replica: string
  service: string
  /** The machine it is assigned to (or runs on, for a global service); undefined while pending. */
  machine?: string
  desired: 'running'
  /** systemd's ActiveState as the machine's agent reported it, `absent`, `machine down` or `pending`. */
  observed: string
  container?: string
  /** When it was put on its machine (replicated services). */
  since?: string
  /** Why a pending replica has no machine. */
  reason?: string
  /** The image digest the service's spec is pinned to (`sha256:…`); absent for an unpinned image. */
  digest?: string
  /** The revision its assignment names (its number where kept, else the spec hash); a rollout moves it. */
  revision?: string
}

/** What etcd says: the raw values under the prefix's services, assignments, pending list and machines. */
export interface PsInputs {
  services: Record<string, string>
  assignments: Record<string, string>
  pending?: PendingRecord
  machines: Record<string, string>
  /** The revisions and rollout records (`<prefix>/revisions/`, `<prefix>/rollouts/`). */
  revisions?: Record<string, string>
  rollouts?: Record<string, string>
}

/** Reads what `service ps` shows from etcd. */
export async function readPsInputs(store: RecordStore, prefix = ETCD_PREFIX): Promise<PsInputs> {
  const keys = schedulerKeys(prefix)
  const raw = async (dir: string): Promise<Record<string, string>> => Object.fromEntries([...await store.getAll<unknown>(dir, {lenient: true})].map(([k, v]) => [k, JSON.stringify(v)]))
  const [services, assignments, pending, machines, revisions, rollouts] = await Promise.all([raw(servicesDir(prefix)), raw(keys.assignments), store.get<PendingRecord>(keys.pending, {lenient: true}), raw(machinesDir(prefix)), raw(revisionsDir(prefix)), raw(rolloutsDir(prefix))])
  return {services, assignments, pending, machines, revisions, rollouts}
}

/** The rows, by service then replica; `name` keeps one service (an unknown name is a usage error listing those there are). */
export function replicaRows(inputs: PsInputs, unitPrefix: string, name?: string, prefix = ETCD_PREFIX): ReplicaRow[] {
  const specs = new Map(Object.entries(inputs.services).map(([key, text]) => [parseServiceKey(key, prefix) ?? key, JSON.parse(text) as {mode?: 'global' | 'replicated'; replicas?: number; imageDigest?: string}]))
  if (name !== undefined && !specs.has(name)) {
    throw new UsageError([{path: name, message: 'is not a desired service', fix: specs.size > 0 ? `use one of: ${[...specs.keys()].sort().join(', ')}` : 'deploy one first (berth service deploy)'}])
  }
  const agents = new Map<string, AgentRecord>()
  for (const [key, text] of Object.entries(inputs.machines)) {
    const parsed = parseMachineKey(key, prefix)
    if (parsed?.kind === 'agent') agents.set(parsed.machine, JSON.parse(text) as AgentRecord)
  }
  const observed = (machine: string, replica: string): string => {
    const agent = agents.get(machine)
    return agent ? agent.services[replica] ?? 'absent' : 'machine down'
  }
  const rows: ReplicaRow[] = []
  const assignments = storedAssignments(inputs.assignments, prefix)
  for (const [service, spec] of [...specs].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (name !== undefined && service !== name) continue
    const pinned = spec.imageDigest ? {digest: spec.imageDigest} : {}
    const revisions = parseRevisions(inputs.revisions ?? {}, service, prefix)
    const revisionOf = (hash: string): string => String(revisionOfHash(revisions, hash)?.seq ?? hash)
    const mine = assignments.filter((a) => a.service === service)
    if (replicasOf(spec) === 'global') {
      // A copy's revision is its assignment's while the leader names one, else what its agent reports running.
      const assignedHash = new Map(mine.map((a) => [a.replica, a.record.specHash]))
      for (const [machine, agent] of [...agents].sort(([a], [b]) => (a < b ? -1 : 1))) {
        if (agent.services[service] === undefined) continue
        const replica = replicaId(service, machine)
        const hash = assignedHash.get(replica) || agent.health?.[service]?.revision
        rows.push({replica, service, machine, desired: 'running', observed: agent.services[service]!, container: containerName(unitPrefix, service), ...pinned, ...(hash ? {revision: revisionOf(hash)} : {})})
      }
      continue
    }
    const replicas = mine.map((a): ReplicaRow => ({
      replica: a.replica, service, machine: a.machine, desired: 'running', observed: observed(a.machine, a.replica), container: containerName(unitPrefix, a.replica), since: (a.record as AssignmentRecord).since, ...pinned,
      revision: revisionOf(a.record.specHash),
    }))
    const pending = (inputs.pending?.pending ?? []).filter((p) => p.service === service && !replicas.some((r) => r.replica === p.replica))
      .map((p): ReplicaRow => ({replica: p.replica, service, desired: 'running', observed: 'pending', reason: p.reason, ...pinned}))
    rows.push(...[...replicas, ...pending].sort((a, b) => slotOrder(a.replica, b.replica)))
  }
  return rows
}

/** The rows as a table; pending replicas end with their reason. */
export function replicaLines(rows: readonly ReplicaRow[], now = Date.now()): string[] {
  if (rows.length === 0) return ['No replicas.']
  const table = [['REPLICA', 'MACHINE', 'DESIRED', 'OBSERVED', 'CONTAINER', 'DIGEST', 'REV', 'SINCE'], ...rows.map((r) => [
    r.replica, r.machine ?? '-', r.desired, r.observed, r.container ?? '-', r.digest ? r.digest.slice(0, 'sha256:'.length + 12) : '-', r.revision ?? '-', r.since ? `${age(now - Date.parse(r.since))} ago` : r.reason ? `pending: ${r.reason}` : '-',
  ])]
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)))
  return table.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '))
}

/** The rollouts of the services shown, one line each (`rollout web: running ...`). */
export function rolloutLines(inputs: PsInputs, name?: string, prefix = ETCD_PREFIX): string[] {
  return Object.entries(inputs.rollouts ?? {}).filter(([key]) => name === undefined || key === rolloutKeys(name, prefix).rollout).sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([, text]) => JSON.parse(text) as RolloutRecord).map((r) => `rollout ${r.service}: ${rolloutLine(r)}`)
}

function age(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000))
  return s < 120 ? `${s} s` : s < 7200 ? `${Math.round(s / 60)} min` : `${Math.round(s / 3600)} h`
}
