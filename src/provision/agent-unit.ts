import type {MachineRole} from '../spec/service.js'
import {UsageError} from '../errors.js'
import {NODE_PATHS, systemUnitName} from '../layout/node.js'
import type {NodeClusterFile} from '../firstboot/cluster-json.js'
import {AGENT_CHECK_PORT} from '../agent/drain/drain.js'

/**
 * What the installer writes for the agent, as pure functions of the node's files: the
 * agent's options (/etc/berth/agent.json) and its unit (`<prefix>agent.service`), a
 * container of the installer image running `agent run` with the mounts TESTING.md
 * measured. Same inputs, same bytes: a second install finds nothing to change.
 */

/** /etc/berth/node.json, as the first-boot file wrote it. */
export interface NodeFile {
  cluster: string
  machine: string
  ip: string
  role: MachineRole
  labels?: Record<string, string>
  unitPrefix: string
  etcdEndpoints: string[]
  registry: string
  installerImage: string
}

/** The agent's options: etcd at the node's endpoints, TLS and token from the node secrets, the admin API on the node's address. */
export function agentOptionsFor(node: NodeFile, cluster: NodeClusterFile): Record<string, unknown> {
  return {
    listen: `${node.ip}:8443`,
    // Balancers ask here whether this machine's copy of a service takes requests (HAProxy's agent-check).
    agentCheck: {listen: `${node.ip}:${AGENT_CHECK_PORT}`},
    store: {kind: 'etcd', endpoints: node.etcdEndpoints, prefix: cluster.etcdPrefix},
    tokenFile: `${NODE_PATHS.secrets}/api-token`,
    tls: {certFile: `${NODE_PATHS.secrets}/api.crt`, keyFile: `${NODE_PATHS.secrets}/api.key`},
    secrets: {kind: 'local', masterKeyFile: `${NODE_PATHS.secrets}/master.key`},
    unitPrefix: cluster.unitPrefix,
    machine: node.machine,
    role: node.role,
    // The scheduler places replicas by these; only main machines campaign to be it.
    ...(node.labels && Object.keys(node.labels).length > 0 ? {labels: node.labels} : {}),
    ...(node.role === 'main' && cluster.scheduler ? {scheduler: cluster.scheduler} : {}),
    // Main machines take turns at the scheduled etcd snapshots (src/recovery/schedule.ts).
    ...(node.role === 'main' && cluster.etcdSnapshots ? {snapshots: {dir: NODE_PATHS.snapshots, cluster: cluster.cluster, ...cluster.etcdSnapshots}} : {}),
  }
}


/** The agent's unit name. */
export function agentUnitName(prefix: string): string {
  return systemUnitName(prefix, 'agent')
}

/**
 * What the agent's container needs of its node (TESTING.md measured each): the host's pid
 * and network namespaces, systemd's bus and unit folder, dockerd, and berth's folders.
 */
export const AGENT_CONTAINER_ARGS = [
  '--pid host --network host',
  '-v /run/systemd:/run/systemd -v /etc/systemd/system:/etc/systemd/system',
  `-v /var/run/docker.sock:/var/run/docker.sock -v ${NODE_PATHS.envFiles}:${NODE_PATHS.envFiles} -v ${NODE_PATHS.config}:${NODE_PATHS.config}`,
  `-v ${NODE_PATHS.snapshots}:${NODE_PATHS.snapshots}`,
].join(' ')

/** The agent's command line inside its image. */
export const AGENT_COMMAND = `agent run --options ${NODE_PATHS.agentOptions}`

/** Where each value of the agent's unit comes from, for the fix. */
const UNIT_VALUE_SOURCE = {prefix: 'unitPrefix in cluster.yaml', image: 'installer.image in cluster.yaml or --image', version: 'the installer image\'s version', machine: 'the machine\'s name in cluster.yaml'}

/**
 * The agent's unit. Image and version come from the installer (a registry reference and a
 * tag: no spaces, no `%`); they are checked so no value can add a directive.
 */
export function agentUnit(options: {prefix: string; image: string; version: string; machine: string}): string {
  for (const [key, value] of Object.entries(options)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$/.test(value)) {
      throw new UsageError([{path: `agent unit: ${key}`, message: `${JSON.stringify(value)} has characters a unit cannot carry`, fix: `${UNIT_VALUE_SOURCE[key as keyof typeof UNIT_VALUE_SOURCE]}: letters, digits and . _ : / @ + - only`}])
    }
  }
  const name = `${options.prefix}agent`
  const run = ['/usr/bin/docker run --rm --init --name', name, AGENT_CONTAINER_ARGS, `-e BERTH_VERSION=${options.version}`, options.image, AGENT_COMMAND].join(' ')
  return `# Written by \`berth install\`. berth-agent keeps this node equal to the desired state in etcd.
[Unit]
Description=berth-agent on ${options.machine}
After=docker.service network-online.target ${systemUnitName(options.prefix, 'unseal')}
Requires=docker.service
Wants=network-online.target
# Node secrets are in memory only. After a reboot ${systemUnitName(options.prefix, 'unseal')} puts the
# sealed copy back (\`unsealed\`); without one (nodeSecrets: memory, or a copy that no longer
# unseals) the agent waits for upload-secrets, whose installer run starts it.
ConditionPathExists=|${NODE_PATHS.secrets}/uploaded
ConditionPathExists=|${NODE_PATHS.secrets}/unsealed

[Service]
Type=simple
ExecStartPre=/usr/bin/install -d -m 0700 ${NODE_PATHS.envFiles}
ExecStartPre=-/usr/bin/docker rm -f ${name}
ExecStart=${run}
# The agent finishes its pass in flight on SIGTERM; its services keep running.
ExecStop=/usr/bin/docker stop -t 30 ${name}
SuccessExitStatus=143
Restart=always
RestartSec=2
TimeoutStartSec=5min
TimeoutStopSec=40

[Install]
WantedBy=multi-user.target
`
}
