/**
 * What `berth local-cluster` needs from whatever runs its nodes: a network of its own,
 * nodes booted from a first-boot seed, and a registry the nodes can pull from. The Docker
 * provider implements it today; a Vagrant provider can implement it later.
 */
import type {ExecResult, PtySize, RemoteProcess} from '../machine/shell.js'

export type {ExecResult} from '../machine/shell.js'

/** The labels every object of a local cluster carries; listing and cleanup go by them. */
export const LABEL = {
  cluster: 'berth.cluster',
  run: 'berth.run',
  role: 'berth.role',
  machine: 'berth.machine',
  ip: 'berth.ip',
} as const

/** A cluster's own network: a bridge with a subnet no other network or host route uses. */
export interface ClusterNetwork {
  id: string
  name: string
  cluster: string
  subnet: string
  gateway: string
}

/** One machine to boot: its name, static IP and NoCloud seed (`meta-data` and `user-data`). */
export interface NodeSpec {
  machine: string
  ip: string
  image: string
  metaData: string
  userData: string
}

/** A node as the provider sees it now. */
export interface NodeInfo {
  id: string
  machine: string
  cluster: string
  ip: string
  /** created, running, exited, ... as the provider reports it. */
  state: string
}

/** The cluster's registry: nodes pull `<host>/<image>` from it over plain HTTP. */
export interface RegistryInfo {
  id: string
  ip: string
  port: number
  /** `ip:port`, the form image references and `--insecure-registry` use. */
  host: string
  volume: string
}

/** Runs the nodes of local clusters; every method that changes something works by id. */
export interface NodeProvider {
  createNetwork(cluster: string, run: string): Promise<ClusterNetwork>
  listNetworks(cluster: string): Promise<ClusterNetwork[]>
  removeNetwork(id: string): Promise<void>
  createNode(network: ClusterNetwork, run: string, spec: NodeSpec): Promise<NodeInfo>
  listNodes(cluster: string): Promise<NodeInfo[]>
  restartNode(id: string): Promise<void>
  removeNode(id: string): Promise<void>
  /** Runs argv inside a node, as `docker exec` does; `stdin`, if given, is written and then closed. */
  exec(id: string, argv: string[], options?: {stdin?: string | Buffer}): Promise<ExecResult>
  /** Starts argv inside a node, as `docker exec -i [-t]` does, its output streaming; `pty` gives it a terminal of that size. */
  start(id: string, argv: string[], options?: {pty?: PtySize}): Promise<RemoteProcess>
  startRegistry(network: ClusterNetwork, run: string, image: string): Promise<RegistryInfo>
  stopRegistry(registry: Pick<RegistryInfo, 'id' | 'volume'>): Promise<void>
}
