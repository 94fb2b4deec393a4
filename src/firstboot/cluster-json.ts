import type {ServiceSpecInput} from '../spec/types.js'
import {type Cluster, SCHEDULER_DEFAULTS, SNAPSHOT_DEFAULTS, intervalSeconds} from '../config/types.js'
import {imageRef} from './model.js'
import {ETCD_PREFIX} from '../layout/records.js'

/**
 * `/etc/berth/cluster.json`: what every node's installer needs of cluster.yaml and nothing
 * secret. upload-secrets writes it beside the secrets; the installer reads it with the
 * first-boot file's node.json.
 */

/** The non-secret cluster description a node's installer reads. */
export interface NodeClusterFile {
  cluster: string
  unitPrefix: string
  /** The installer/agent image to install, with its registry host. */
  installerImage: string
  registry: string
  /** Key prefix of berth's records and desired state in etcd. */
  etcdPrefix: string
  /** The cluster's initial services: put into etcd when absent there (those with `build` come with `berth deploy`). */
  services: Record<string, ServiceSpecInput>
  /** cluster.yaml's etcd.snapshots, for the agents of main machines. */
  etcdSnapshots?: {intervalSeconds: number; keep: number}
  /** cluster.yaml's scheduler, for the agents of main machines (the candidates). */
  scheduler?: {lostAfterSeconds: number}
}

/** The cluster.json for a cluster; `installerImage` pins an exact image (a build's content tag), else cluster.yaml's. */
export function nodeClusterFile(cluster: Cluster, installerImage?: string): NodeClusterFile {
  const snapshots = cluster.etcd.snapshots ?? SNAPSHOT_DEFAULTS
  return {
    cluster: cluster.name,
    unitPrefix: cluster.unitPrefix,
    installerImage: imageRef(cluster, installerImage ?? cluster.installer.image),
    registry: cluster.registry.url,
    etcdPrefix: ETCD_PREFIX,
    services: seededServices(cluster),
    etcdSnapshots: {intervalSeconds: intervalSeconds(snapshots.interval), keep: snapshots.keep},
    scheduler: {lostAfterSeconds: intervalSeconds((cluster.scheduler ?? SCHEDULER_DEFAULTS).lostAfter)},
  }
}

/** The services an installer puts into etcd: not those with `build`, whose image exists only once `berth deploy` built it. */
function seededServices(cluster: Cluster): Record<string, ServiceSpecInput> {
  return Object.fromEntries(Object.entries(cluster.services).filter(([name]) => !(name in (cluster.builds ?? {}))))
}
