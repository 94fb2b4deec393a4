import type {Machine} from '../config/types.js'
import type {localPaths} from './record.js'

/**
 * The OpenSSH client's arguments for a local node: berth's key, berth's known_hosts and
 * strict host-key checking, so a node whose key is not the one berth generated is refused.
 */
export function sshArgs(paths: ReturnType<typeof localPaths>, user: string, machine: Machine): string[] {
  return [
    '-i', paths.key,
    '-o', `UserKnownHostsFile=${paths.knownHosts}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'LogLevel=ERROR',
    `${user}@${machine.ip}`,
  ]
}

/** A ~/.ssh/config stanza per node, as the seed's local-cluster script printed. */
export function sshConfig(paths: ReturnType<typeof localPaths>, user: string, machines: Machine[], prefix: string): string {
  return machines.map((m) => [
    `Host ${prefix}${m.name}`,
    `  HostName ${m.ip}`,
    `  User ${user}`,
    `  IdentityFile ${paths.key}`,
    '  IdentitiesOnly yes',
    `  UserKnownHostsFile ${paths.knownHosts}`,
    '  StrictHostKeyChecking yes',
    '',
  ].join('\n')).join('\n')
}
