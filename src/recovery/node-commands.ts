/**
 * The shell commands that restore and repair run on a main machine, as pure functions of
 * their arguments (tests compare them exactly). Nodes run Debian's etcd.service, which
 * reads /etc/default/etcd; its ETCD_DATA_DIR is where the data lives (berth's first boot
 * writes /var/lib/etcd/berth).
 */
import {NODE_PATHS} from '../layout/node.js'

/** The environment file Debian's etcd.service reads. */
export const ETCD_ENV_FILE = '/etc/default/etcd'

/** Where restore uploads the snapshot's database on each main machine (mode 0600). */
export const REMOTE_SNAPSHOT = NODE_PATHS.restoreSnapshot

/** Single-quotes a value for sh; every value here is also checked by cluster.yaml's schema. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`
}

const dataDir = `DIR=$(. ${ETCD_ENV_FILE} 2>/dev/null; echo "\${ETCD_DATA_DIR:-/var/lib/etcd/berth}")`
const ownByEtcd = 'if id -u etcd >/dev/null 2>&1; then chown -R etcd:etcd "$DIR"; fi'

/** Sets `KEY="value"` lines of the etcd environment file (each key is there: first boot wrote them all). */
function setEnv(values: Record<string, string>): string {
  const edits = Object.entries(values).map(([key, value]) => `-e ${shellQuote(`s|^${key}=.*|${key}="${value}"|`)}`)
  return `sed -i ${edits.join(' ')} ${ETCD_ENV_FILE}`
}

/** Stops etcd and keeps systemd from restarting it meanwhile. */
export function stopEtcdCommand(): string {
  return 'systemctl stop etcd.service'
}

/** Starts etcd without waiting: a member of a new cluster reports started only once a quorum is up. */
export function startEtcdCommand(): string {
  return 'systemctl reset-failed etcd.service 2>/dev/null; systemctl start --no-block etcd.service'
}

/** What one main machine's restore needs. */
export interface RestoreOnMachine {
  name: string
  peerUrl: string
  /** `name=peerUrl,...` of every main machine. */
  initialCluster: string
  token: string
}

/**
 * Restores the uploaded snapshot into a fresh data dir beside the old one, then swaps it in
 * (the old one stays as `<dir>.before-restore` until the next restore) and records the new
 * cluster token in the environment file. etcd must be stopped.
 */
export function restoreCommand(r: RestoreOnMachine): string {
  return [
    'set -e',
    dataDir,
    'rm -rf "$DIR.restoring"',
    [
      'ETCDCTL_API=3 etcdctl snapshot restore', REMOTE_SNAPSHOT,
      '--name', shellQuote(r.name),
      '--initial-cluster', shellQuote(r.initialCluster),
      '--initial-cluster-token', shellQuote(r.token),
      '--initial-advertise-peer-urls', shellQuote(r.peerUrl),
      '--data-dir "$DIR.restoring" >/dev/null',
    ].join(' '),
    'rm -rf "$DIR.before-restore"',
    'if [ -e "$DIR" ]; then mv "$DIR" "$DIR.before-restore"; fi',
    'mv "$DIR.restoring" "$DIR"',
    ownByEtcd,
    setEnv({ETCD_INITIAL_CLUSTER: r.initialCluster, ETCD_INITIAL_CLUSTER_STATE: 'new', ETCD_INITIAL_CLUSTER_TOKEN: r.token}),
    `rm -f ${REMOTE_SNAPSHOT}`,
  ].join('\n')
}

/**
 * Wipes a stopped member's data dir and makes its next start join the running cluster
 * (state existing, the voters and itself), as add-machine's first-boot file would.
 */
export function wipeAndJoinCommand(initialCluster: string): string {
  return ['set -e', dataDir, 'rm -rf "$DIR"', setEnv({ETCD_INITIAL_CLUSTER: initialCluster, ETCD_INITIAL_CLUSTER_STATE: 'existing'})].join('\n')
}
