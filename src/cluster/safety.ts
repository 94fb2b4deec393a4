import {type MemberStatus, quorum} from '../etcd/members.js'
import {MAX_MAIN_MACHINES} from '../config/types.js'

/** Whether a membership change is safe, and if not why, with the numbers. */
export interface Verdict {
  safe: boolean
  /** Unsafe but `--force` may override (false for changes etcd itself cannot survive). */
  overridable: boolean
  reason?: string
}

const ok: Verdict = {safe: true, overridable: true}

function describeDown(members: readonly MemberStatus[]): string {
  const down = members.filter((m) => !m.healthy)
  return down.length === 0 ? '' : ` (down: ${down.map((m) => `${m.name || m.id}: ${m.problem ?? 'unhealthy'}`).join('; ')})`
}

/**
 * Removing a voting member is safe when the cluster can commit the change now (a quorum
 * of today's voters answers) and the voters left behind can still hold a quorum among
 * themselves. Removing the last voter is never allowed.
 */
export function checkRemove(members: readonly MemberStatus[], target: MemberStatus): Verdict {
  if (target.isLearner) return ok
  const voters = members.filter((m) => !m.isLearner)
  if (voters.length <= 1) return {safe: false, overridable: false, reason: `${target.name} is the last etcd member; removing it would end the cluster`}
  const healthyNow = voters.filter((m) => m.healthy).length
  const remaining = voters.filter((m) => m.id !== target.id)
  const healthyAfter = remaining.filter((m) => m.healthy).length
  if (healthyNow < quorum(voters.length)) {
    return {safe: false, overridable: true, reason: `only ${healthyNow} of ${voters.length} etcd members are healthy; committing a removal needs ${quorum(voters.length)}${describeDown(voters)}`}
  }
  if (healthyAfter < quorum(remaining.length)) {
    return {safe: false, overridable: true, reason: `removing ${target.name} would leave ${healthyAfter} healthy of ${remaining.length} etcd members; quorum needs ${quorum(remaining.length)}${describeDown(remaining)}`}
  }
  return ok
}

/**
 * Adding a member (as a learner, promoted later) is safe when every voter is healthy, no
 * other learner is pending, and the voters stay within etcd's limit.
 */
export function checkAdd(members: readonly MemberStatus[], peerUrl: string): Verdict {
  const voters = members.filter((m) => !m.isLearner)
  const otherLearners = members.filter((m) => m.isLearner && !m.peerUrls.includes(peerUrl))
  if (voters.length + 1 > MAX_MAIN_MACHINES) {
    return {safe: false, overridable: false, reason: `the cluster has ${voters.length} etcd members; etcd takes at most ${MAX_MAIN_MACHINES}. Add it with --role worker`}
  }
  if (otherLearners.length > 0) {
    return {safe: false, overridable: false, reason: `learner ${otherLearners.map((m) => m.name || m.peerUrls[0]).join(', ')} is still being added; finish it (add-machine --wait) or remove it first`}
  }
  const healthy = voters.filter((m) => m.healthy).length
  if (healthy < voters.length) {
    return {safe: false, overridable: true, reason: `${healthy} of ${voters.length} etcd members are healthy; with ${voters.length + 1} members quorum needs ${quorum(voters.length + 1)}, so one more failure could stop the cluster${describeDown(voters)}`}
  }
  return ok
}
