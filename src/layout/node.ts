/**
 * Where berth keeps things on a node, and how its own units are named: one place, so the
 * first-boot files, the installer, the agent and the provisioner's commands over SSH agree.
 * The etcd side of the layout is records.ts.
 */

/** berth's folders and files on every node. */
export const NODE_PATHS = {
  /** berth's configuration: node.json, cluster.json, agent.json, the node-secrets script. */
  config: '/etc/berth',
  /** What the first-boot file says of this machine (src/firstboot/model.ts writes it). */
  nodeFile: '/etc/berth/node.json',
  /** What the node needs of cluster.yaml (upload-secrets writes it). */
  clusterFile: '/etc/berth/cluster.json',
  /** The agent's options, written by the installer. */
  agentOptions: '/etc/berth/agent.json',
  /** The node secrets: a tmpfs (0700, files 0600), mounted at first boot, empty after a reboot until unsealed. */
  secrets: '/etc/berth/secrets',
  /** The script that seals the node secrets and opens them at boot. */
  nodeSecretsScript: '/etc/berth/node-secrets',
  /** The node secrets' sealed copy, which survives a reboot. */
  sealed: '/var/lib/berth/sealed',
  /** The agent's file store when its options name none. */
  desiredFile: '/var/lib/berth/desired.yaml',
  /** The etcd snapshots a main machine's agent takes. */
  snapshots: '/var/lib/berth/snapshots',
  /** Where restore puts the snapshot it restores from. */
  restoreSnapshot: '/var/lib/berth/restore/etcd.db',
  /** The services' env files and label files (the spec hash docker puts on the container), on a tmpfs. */
  envFiles: '/run/berth',
} as const

/**
 * The first line of every service unit the agent writes (installer/templates/service.unit.hbs
 * starts with it): how berth tells its service units from other units that share the prefix.
 */
export const AGENT_UNIT_MARK = '# Written by berth-agent'

/** The rule for a unit prefix, as both JSON Schemas write it (cluster.yaml's and the agent options'). */
export const UNIT_PREFIX_PATTERN = '^[a-z][a-z0-9-]{0,30}-$'

/** A service copy's container name (`berth-web.1`), which is also its unit's name without `.service`. */
export function containerName(prefix: string, name: string): string {
  return `${prefix}${name}`
}

/** A service copy's unit file name (`berth-web.1.service`). */
export function unitName(prefix: string, name: string): string {
  return `${containerName(prefix, name)}.service`
}

/** berth's own units; no service may take their names (spec/service.ts RESERVED_SERVICE_NAMES). */
export type SystemUnit = 'agent' | 'installer' | 'unseal'

/** The file name of one of berth's own units: `<prefix>agent.service`, `<prefix>installer.path`. */
export function systemUnitName(prefix: string, unit: SystemUnit, type: 'service' | 'path' = 'service'): string {
  return `${prefix}${unit}.${type}`
}
