import {randomBytes} from 'node:crypto'
import {mkdir, readFile} from 'node:fs/promises'
import path from 'node:path'

import type {Step} from '../cli/progress.js'
import {loadClusterFile} from '../config/load.js'
import type {Cluster} from '../config/types.js'
import {UsageError} from '../errors.js'
import {writeFileAtomic} from '../fsx.js'
import {firstBootFileName, writeFirstBoot} from '../firstboot/index.js'
import {generateEd25519} from '../ssh/keygen.js'
import {removeLocalFolder} from './destroy.js'
import type {ClusterNetwork, NodeProvider, RegistryInfo} from './provider.js'
import {type LocalRecord, localPaths, readRecord, writeRecord} from './record.js'
import {addressIn} from './subnet.js'
import {waitForEtcd, waitForSsh} from './wait.js'

/** At most this many nodes: nine etcd members is etcd's own ceiling. */
export const MAX_LOCAL_NODES = 9

export interface StartRequest {
  name: string
  dir: string
  nodes: number
  provider: NodeProvider
  providerName: LocalRecord['provider']
  ensureImages: (progress: (line: string) => void) => Promise<{node: string; registry: string}>
  timeoutMs: number
}

/** What a started cluster looks like, for the command's output. */
export interface StartResult {
  record: LocalRecord
  cluster: Cluster
}

/** The address of the machine at position `index` (0-based): .11, .12, … of the subnet. */
export function machineIp(subnet: string, index: number): string {
  return addressIn(subnet, 11 + index)
}

/** A NoCloud meta-data file: the instance id changes per run so cloud-init runs again. */
export function metaData(machine: string, run: string): string {
  return `instance-id: ${machine}-${run}\nlocal-hostname: ${machine}\n`
}

/**
 * The steps of `local-cluster start`: images, network, registry, cluster.yaml and a
 * provisioner key, cloud-init first-boot files (the same `new-cloud-config` writes),
 * nodes booted from them, then SSH with verified host keys and N healthy etcd members.
 * `undo` removes whatever the steps made, by id.
 */
export async function startSteps(request: StartRequest, result: Partial<StartResult>): Promise<{steps: Step[]; undo: () => Promise<void>}> {
  if (!Number.isInteger(request.nodes) || request.nodes < 1 || request.nodes > MAX_LOCAL_NODES) {
    throw new UsageError([{path: 'N', message: `${request.nodes} nodes`, fix: `start 1 to ${MAX_LOCAL_NODES} nodes (etcd takes at most ${MAX_LOCAL_NODES} members)`}])
  }
  if (await readRecord(request.dir) || (await request.provider.listNodes(request.name)).length > 0) {
    throw new UsageError([{path: request.name, message: 'a local cluster of that name exists', fix: '`berth local-cluster destroy` it first, or pass --name'}])
  }
  const run = randomBytes(4).toString('hex')
  const paths = localPaths(request.dir)
  const made: {network?: ClusterNetwork; registry?: RegistryInfo; nodes: string[]} = {nodes: []}
  let images = {node: '', registry: ''}
  let cluster: Cluster | undefined

  const steps: Step[] = [{
    title: 'Ensure the node and registry images',
    run: async () => {
      images = await request.ensureImages(() => {})
      return images.node
    },
  }, {
    title: 'Create the cluster network',
    run: async () => {
      made.network = await request.provider.createNetwork(request.name, run)
      return made.network.subnet
    },
  }, {
    title: 'Start the registry',
    run: async () => {
      made.registry = await request.provider.startRegistry(made.network!, run, images.registry)
      return made.registry.host
    },
  }, {
    title: 'Write cluster.yaml, the provisioner key and each node\'s cloud-init file',
    run: async () => {
      await mkdir(request.dir, {recursive: true, mode: 0o700})
      await writeProvisionerKey(paths.key)
      const machines = Array.from({length: request.nodes}, (_, i) => `  - {name: main-${i + 1}, ip: ${machineIp(made.network!.subnet, i)}, role: main}`)
      await writeFileAtomic(paths.clusterFile, [
        `# Local cluster ${request.name}, written by \`berth local-cluster start\`.`,
        `name: ${request.name}`,
        `registry: {url: "${made.registry!.host}", insecure: true}`,
        'ssh: {user: root, authorizedKeyFiles: [id_ed25519.pub]}',
        'machines:',
        ...machines,
        '',
      ].join('\n'))
      cluster = (await loadClusterFile(paths.clusterFile)).cluster
      await writeFirstBoot(cluster, {format: 'cloud-init', outDir: paths.bootDir, stateDir: paths.stateDir})
      // Vagrant's VM providers boot a Flatcar box from the CoreOS form of the same files.
      if (request.providerName === 'vagrant') await writeFirstBoot(cluster, {format: 'coreos', outDir: path.join(request.dir, 'boot-coreos'), stateDir: paths.stateDir})
      result.cluster = cluster
    },
  }, {
    title: `Boot ${request.nodes} nodes from their first-boot files`,
    run: async () => {
      await Promise.all(cluster!.machines.map(async (m) => {
        const userData = await readFile(path.join(paths.bootDir, firstBootFileName(m, 'cloud-init')), 'utf8')
        const node = await request.provider.createNode(made.network!, run, {machine: m.name, ip: m.ip, image: images.node, metaData: metaData(m.name, run), userData})
        made.nodes.push(node.id)
      }))
    },
  }, {
    title: 'Wait for SSH with the host keys berth generated',
    run: async () => {
      await Promise.all(cluster!.machines.map((m) => waitForSsh(cluster!, m, {identity: paths.key, stateDir: paths.stateDir, timeoutMs: request.timeoutMs})))
    },
  }, {
    title: `Wait for ${request.nodes} healthy etcd members`,
    run: async () => {
      const endpoints = cluster!.machines.map((m) => `http://${m.ip}:${cluster!.etcd.clientPort}`)
      await waitForEtcd(endpoints, request.nodes, request.timeoutMs)
      const record: LocalRecord = {
        name: request.name, provider: request.providerName, run, networkId: made.network!.id, subnet: made.network!.subnet,
        registry: made.registry!, image: images.node, createdAt: new Date().toISOString(),
      }
      await writeRecord(request.dir, record)
      result.record = record
    },
  }]

  const undo = async () => {
    for (const id of made.nodes) await request.provider.removeNode(id)
    if (made.registry) await request.provider.stopRegistry(made.registry)
    if (made.network) await request.provider.removeNetwork(made.network.id)
    await removeLocalFolder(request.dir)
  }
  return {steps, undo}
}

/** Generates the provisioner's ed25519 key pair for a local cluster (private key 0600). */
async function writeProvisionerKey(file: string): Promise<void> {
  const pair = generateEd25519('berth-provisioner')
  await writeFileAtomic(file, pair.private, 0o600)
  await writeFileAtomic(`${file}.pub`, `${pair.public}\n`, 0o644)
}
