/** An etcd member as berth reasons about it: identity, URLs, and whether it answers. */
export interface MemberStatus {
  id: string
  /** Empty until the member has started once. */
  name: string
  peerUrls: string[]
  clientUrls: string[]
  isLearner: boolean
  /** It answered a status request within the timeout, with no alarm. */
  healthy: boolean
  /** Why it is not healthy, for messages. */
  problem?: string
}

/** Votes needed to commit anything in a cluster of `voters` members. */
export function quorum(voters: number): number {
  return Math.floor(voters / 2) + 1
}

/** Finds a member by name, or by an IP or URL in its peer URLs. */
export function findMember(members: readonly MemberStatus[], nameOrIp: string): MemberStatus | undefined {
  return members.find((m) => m.name === nameOrIp) ?? members.find((m) => m.peerUrls.some((u) => new URL(u).hostname === nameOrIp || u === nameOrIp))
}

/** A machine's etcd membership as status tables show it. */
export interface Membership {
  /** `voter, healthy`, `learner, <problem>`, `not a member` (a main machine), `-` (a worker). */
  text: string
  /** Why the member is not healthy, for a line of its own. */
  problem?: string
}

/** How `role`'s machine stands in etcd, given its member (if it is one). */
export function membership(member: MemberStatus | undefined, role: string): Membership {
  if (!member) {
    const text = role === 'main' ? 'not a member' : '-'
    return {text}
  }
  const kind = member.isLearner ? 'learner' : 'voter'
  if (member.healthy) return {text: `${kind}, healthy`}
  return {text: `${kind}, ${member.problem ?? 'unhealthy'}`, problem: member.problem}
}
