/**
 * The health gate a machine must pass after its upgrade before the next one starts:
 * etcd healthy with all its members, the machine's installer record new and ok (and of the
 * target version when one is known), its agent alive (the record is kept under a lease),
 * converged, and every service it runs active. The decision is pure; src/upgrade/gate.ts
 * reads the inputs from etcd and polls.
 */
import type {AgentRecord, InstalledRecord} from '../layout/records.js'
import type {MemberStatus} from '../etcd/members.js'

/** What the installer of this upgrade must have recorded. */
export interface HealthTarget {
  /**
   * The installer record seen before the upgrade began (its `at`); the gate wants a newer
   * one. Comparing two times written by the same machine keeps clock skew out of it.
   */
  previousAt?: string
  /** The version (or image tag) the upgrade installs; unchecked when unknown. */
  version?: string
}

/** Everything the gate looks at, read at one moment. */
export interface HealthInput {
  machine: string
  /** etcd's members, or why they could not be listed. */
  members: MemberStatus[] | string
  /** How many etcd members cluster.yaml says there are (its main machines). */
  expectedMembers: number
  installed?: InstalledRecord
  agent?: AgentRecord
}

/** The first unmet condition, in the order an upgrade meets them; undefined when healthy. */
export function healthProblem(input: HealthInput, target: HealthTarget): string | undefined {
  const {machine, members, installed, agent} = input
  if (typeof members === 'string') return `etcd: ${members}`
  const down = members.filter((m) => !m.healthy || m.isLearner)
  if (down.length > 0) return `etcd: ${down.map((m) => `${m.name || m.id} ${m.isLearner ? 'is a learner' : (m.problem ?? 'unhealthy')}`).join('; ')}`
  if (members.length !== input.expectedMembers) return `etcd has ${members.length} members, cluster.yaml has ${input.expectedMembers} main machines`
  if (!installed) return `${machine} has no installer record yet`
  if (!isNewer(installed, target)) return `${machine}'s installer has not recorded this upgrade yet (last record ${installed.at})`
  if (installed.result !== 'ok') return `${machine}'s installer failed: ${installed.error ?? 'no reason recorded'}`
  if (target.version && !matchesVersion(installed, target.version)) return `${machine} has version ${installed.version} (${installed.image}) installed, not ${target.version}`
  if (!agent) return `${machine}'s agent is not running (no agent record: its lease expired or it never reported)`
  const errors = Object.entries(agent.errors)
  if (!agent.converged) return `${machine}'s agent has not converged${errors.length > 0 ? `: ${errors.map(([k, v]) => `${k}: ${v}`).join('; ')}` : ` (last pass ${agent.lastPass})`}`
  const inactive = Object.entries(agent.services).filter(([, state]) => state !== 'active')
  if (inactive.length > 0) return `${machine}'s services not active: ${inactive.map(([name, state]) => `${name} ${state}`).join(', ')}`
  return undefined
}

/** The installer's version or image tag names the target (`0.2.0`, `0.2.0-ab12cd`, a full ref). */
export function matchesVersion(installed: InstalledRecord, version: string): boolean {
  const tag = installed.image.slice(installed.image.lastIndexOf(':') + 1)
  return installed.version === version || installed.image === version || tag === version
}

/** True when the installer record was written after the one seen before the upgrade. */
export function isNewer(installed: InstalledRecord, target: HealthTarget): boolean {
  return target.previousAt === undefined || Date.parse(installed.at) > Date.parse(target.previousAt)
}
