import type {Cluster, Machine} from '../config/types.js'
import type {Templates} from './templates.js'
import {NODE_PATHS, systemUnitName} from '../layout/node.js'

/** An etcd member as the bootstrap flags name it. */
export interface Member {
  name: string
  peerUrl: string
}

/** How a main machine's etcd joins: with the others at first boot (`new`), or into a running cluster (`existing`). */
export interface EtcdJoin {
  state: 'new' | 'existing'
  /** Every voting member after the join, this machine included. */
  members: Member[]
  /** Client URLs the node's agent and installer talk to. */
  endpoints: string[]
}

/** A file a first-boot config writes. */
export interface BootFile {
  path: string
  mode: number
  content: string
}

/** A systemd unit or drop-ins for one; `enable` and `command` say what happens at first boot. */
export interface BootUnit {
  name: string
  content?: string
  dropIns: {name: string; content: string}[]
  enable: boolean
  /** `start` it, or `try-restart` it so a running daemon picks up its new drop-ins. */
  command?: 'start' | 'try-restart'
}

/** Everything one machine's first boot needs, before it is written in a format. */
export interface NodeBoot {
  cluster: string
  machine: Machine
  authorizedKeys: string[]
  hostKey: {private: string; public: string}
  files: BootFile[]
  /** Directories created with their mode before files are written. */
  directories: {path: string; mode: number}[]
  /** etcd's settings for a main machine, as ETCD_* variables; undefined elsewhere. */
  etcdEnv?: Record<string, string>
  units: BootUnit[]
  /** `<prefix>installer.service`, which the path unit starts when secrets arrive. */
  installerUnit: string
}

/**
 * Node secrets live in memory only: a tmpfs here, mounted before anything can arrive
 * (upload-secrets refuses to write anywhere else). After a reboot it is empty until the
 * secrets are uploaded again.
 */
export const SECRETS_MOUNT = {where: NODE_PATHS.secrets, unit: 'etc-berth-secrets.mount', options: 'mode=0700,nosuid,nodev,noexec,size=1m'}

/** Where a machine keeps its sealed copy of the node secrets, and the script that seals and unseals them. */
export const SEALED_SECRETS = {dir: NODE_PATHS.sealed, script: NODE_PATHS.nodeSecretsScript}

/** The client and peer URLs of a machine's etcd. */
export function etcdUrls(cluster: Cluster, ip: string): {client: string; peer: string} {
  return {client: `http://${ip}:${cluster.etcd.clientPort}`, peer: `http://${ip}:${cluster.etcd.peerPort}`}
}

/** The join of a brand-new cluster: every main machine, state `new`. */
export function newClusterJoin(cluster: Cluster): EtcdJoin {
  const mains = cluster.machines.filter((m) => m.role === 'main')
  return {
    state: 'new',
    members: mains.map((m) => ({name: m.name, peerUrl: etcdUrls(cluster, m.ip).peer})),
    endpoints: mains.map((m) => etcdUrls(cluster, m.ip).client),
  }
}

/** A registry-relative image name made absolute; a name that already names a host is kept. */
export function imageRef(cluster: Cluster, image: string): string {
  const first = image.split('/')[0] ?? ''
  const hasHost = image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost')
  return hasHost ? image : `${cluster.registry.url}/${image}`
}

/** Builds one machine's first boot from the cluster, its host key and how its etcd joins. */
export function nodeBoot(cluster: Cluster, machine: Machine, hostKey: NodeBoot['hostKey'], join: EtcdJoin, t: Templates): NodeBoot {
  const prefix = cluster.unitPrefix
  const image = imageRef(cluster, cluster.installer.image)
  const nodeJson = {
    cluster: cluster.name,
    machine: machine.name,
    ip: machine.ip,
    role: machine.role,
    labels: machine.labels,
    unitPrefix: prefix,
    etcdEndpoints: join.endpoints,
    registry: cluster.registry.url,
    installerImage: image,
  }
  const sealed = {prefix, image, secrets: SECRETS_MOUNT.where, sealed: SEALED_SECRETS.dir}
  // The secrets' tmpfs; then containerd and dockerd restarted onto tmpfs state of their own
  // (daemons already running at first boot move over; later boots mount it first), since
  // both keep each container's environment; the registry drop-in when it is plain HTTP.
  const units: BootUnit[] = [
    {name: SECRETS_MOUNT.unit, content: t['secrets.mount']({options: SECRETS_MOUNT.options}), dropIns: [], enable: true, command: 'start'},
    {name: 'var-lib-docker-containers.mount', content: t['docker-containers.mount']({}), dropIns: [], enable: true, command: 'start'},
    {name: 'var-lib-containerd.mount', content: t['containerd-state.mount']({}), dropIns: [], enable: true, command: 'start'},
    {name: 'containerd.service', dropIns: [{name: '50-berth.conf', content: t['containerd.conf']({})}], enable: false, command: 'try-restart'},
    {name: 'docker.service', dropIns: [{name: '50-berth.conf', content: t['docker.conf']({registry: cluster.registry.insecure ? cluster.registry.url : ''})}], enable: false, command: 'try-restart'},
    {name: systemUnitName(prefix, 'installer'), content: t['installer.service']({prefix, image, machine: machine.name}), dropIns: [], enable: false},
    {name: systemUnitName(prefix, 'installer', 'path'), content: t['installer.path']({prefix}), dropIns: [], enable: true, command: 'start'},
    // Enabled for the next boots; at first boot there is nothing sealed yet.
    {name: systemUnitName(prefix, 'unseal'), content: t['unseal.service'](sealed), dropIns: [], enable: true},
  ]
  return {
    cluster: cluster.name,
    machine,
    authorizedKeys: cluster.ssh.authorizedKeys,
    hostKey,
    directories: [{path: NODE_PATHS.config, mode: 0o755}, {path: SECRETS_MOUNT.where, mode: 0o700}],
    files: [
      {path: NODE_PATHS.nodeFile, mode: 0o644, content: `${JSON.stringify(nodeJson, null, 2)}\n`},
      {path: SEALED_SECRETS.script, mode: 0o755, content: t['node-secrets.sh'](sealed)},
    ],
    etcdEnv: machine.role === 'main' ? etcdEnv(cluster, machine, join) : undefined,
    units,
    installerUnit: systemUnitName(prefix, 'installer'),
  }
}

function etcdEnv(cluster: Cluster, machine: Machine, join: EtcdJoin): Record<string, string> {
  const urls = etcdUrls(cluster, machine.ip)
  return {
    ETCD_NAME: machine.name,
    ETCD_DATA_DIR: '/var/lib/etcd/berth',
    ETCD_LISTEN_PEER_URLS: urls.peer,
    ETCD_LISTEN_CLIENT_URLS: `${urls.client},http://127.0.0.1:${cluster.etcd.clientPort}`,
    ETCD_INITIAL_ADVERTISE_PEER_URLS: urls.peer,
    ETCD_ADVERTISE_CLIENT_URLS: urls.client,
    ETCD_INITIAL_CLUSTER: join.members.map((m) => `${m.name}=${m.peerUrl}`).join(','),
    ETCD_INITIAL_CLUSTER_STATE: join.state,
    ETCD_INITIAL_CLUSTER_TOKEN: cluster.etcd.token,
  }
}
