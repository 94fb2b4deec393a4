import * as Flags from '@oclif/core/flags'

import {loadClusterFile} from '../config/load.js'
import type {Cluster} from '../config/types.js'
import {UsageError} from '../errors.js'
import {stateRoot} from '../paths.js'
import type {ClusterNetwork, NodeProvider} from './provider.js'
import {type LocalRecord, localDir, localPaths, requireRecord} from './record.js'

/** Flags every local-cluster command takes. */
export const localFlags = {
  name: Flags.string({char: 'n', description: 'Name of the local cluster (the main job, scripts/demo.sh, makes `demo`).', default: 'demo', env: 'BERTH_LOCAL_CLUSTER'}),
  'state-dir': Flags.string({description: 'Where berth keeps its state (default ~/.local/state/berth).', env: 'BERTH_STATE_DIR'}),
}

/** An existing local cluster: its folder, record, cluster.yaml and provider. */
export interface LocalCluster {
  dir: string
  paths: ReturnType<typeof localPaths>
  record: LocalRecord
  cluster: Cluster
  provider: NodeProvider
}

/** The provider of a kind, loaded on first use (dockerode is heavy); Vagrant keeps its files in `dir`. */
export async function providerFor(kind: LocalRecord['provider'], dir: string): Promise<NodeProvider> {
  if (kind === 'vagrant') {
    const {VagrantProvider} = await import('./vagrant-provider.js')
    return new VagrantProvider(dir, localPaths(dir).key)
  }
  const {DockerProvider} = await import('./docker-provider.js')
  return new DockerProvider()
}

/** Opens the local cluster `name`, or fails with a usage error when there is none. */
export async function openLocal(flags: {name: string; 'state-dir'?: string}): Promise<LocalCluster> {
  const dir = localDir(flags.name, flags['state-dir'] ?? stateRoot())
  const record = await requireRecord(dir, flags.name)
  const paths = localPaths(dir)
  const {cluster} = await loadClusterFile(paths.clusterFile)
  return {dir, paths, record, cluster, provider: await providerFor(record.provider, dir)}
}

/** A machine of the local cluster by name, or a usage error listing the names. */
export function localMachine(local: LocalCluster, name: string) {
  const machine = local.cluster.machines.find((m) => m.name === name)
  if (!machine) throw new UsageError([{path: name, message: `no node of that name in local cluster ${local.record.name}`, fix: `use one of: ${local.cluster.machines.map((m) => m.name).join(', ')}`}])
  return machine
}

/** The network a local cluster's start made, found by the id it recorded. */
export async function localNetwork(local: LocalCluster): Promise<ClusterNetwork> {
  const network = (await local.provider.listNetworks(local.record.name)).find((n) => n.id === local.record.networkId)
  if (!network) throw new UsageError([{path: local.record.name, message: `its network ${local.record.networkId.slice(0, 12)} is gone`, fix: '`berth local-cluster destroy` it and start again'}])
  return network
}
