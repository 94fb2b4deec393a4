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
