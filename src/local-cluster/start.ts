import {randomBytes} from 'node:crypto'
import {mkdir, readFile} from 'node:fs/promises'
import path from 'node:path'

import {Chain} from '../cli/chain.js'
import type {Step} from '../cli/progress.js'
import {loadClusterFile} from '../config/load.js'
import type {Cluster} from '../config/types.js'
import {UsageError} from '../errors.js'
import {writeFileAtomic} from '../fsx.js'
import {firstBootFileName, writeFirstBoot} from '../firstboot/index.js'
import {generateEd25519} from '../ssh/keygen.js'
import {removeLocalFolder} from './destroy.js'
import type {NodeProvider} from './provider.js'
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
 * Each step gets what it needs from the steps before it (a Chain); `result` is the started
 * cluster once every step ran, and `undo` removes whatever the steps made, by id.
 */
export async function startSteps(request: StartRequest): Promise<{steps: Step[]; result: () => StartResult; undo: () => Promise<void>}> {
  if (!Number.isInteger(request.nodes) || request.nodes < 1 || request.nodes > MAX_LOCAL_NODES) {
    throw new UsageError([{path: 'N', message: `${request.nodes} nodes`, fix: `start 1 to ${MAX_LOCAL_NODES} nodes (etcd takes at most ${MAX_LOCAL_NODES} members)`}])
  }
  if (await readRecord(request.dir) || (await request.provider.listNodes(request.name)).length > 0) {
    throw new UsageError([{path: request.name, message: 'a local cluster of that name exists', fix: '`berth local-cluster destroy` it first, or pass --name'}])
  }
  const run = randomBytes(4).toString('hex')
  const paths = localPaths(request.dir)
  const names = Array.from({length: request.nodes}, (_, i) => `main-${i + 1}`)
  const seeds = names.map((m) => path.join(paths.bootDir, firstBootFileName({name: m}, 'cloud-init')))

  const plan = new Chain({})
    .step('Ensure the node and registry images', async () => {
      const images = await request.ensureImages(() => {})
      return {note: images.node, images}
    }, async () => 'would build the node and registry images unless images of their inputs\' hash exist (as `local-cluster build-image` does)')
    .step('Create the cluster network', async () => {
      const network = await request.provider.createNetwork(request.name, run)
      return {note: network.subnet, network}
    }, async () => `would create the network of local cluster ${request.name} (run ${run}) on a free /24 subnet`)
    .step('Start the registry', async ({network, images}) => {
      const registry = await request.provider.startRegistry(network, run, images.registry)
      return {note: registry.host, registry}
    }, async () => 'would start the registry from the registry image at .2 of that subnet, with a volume for its images')
    .step('Write cluster.yaml, the provisioner key and each node\'s cloud-init file', async ({network, registry}) => {
      await mkdir(request.dir, {recursive: true, mode: 0o700})
      await writeProvisionerKey(paths.key)
      await writeFileAtomic(paths.clusterFile, clusterYaml(request.name, registry.host, network.subnet, request.nodes))
      const {cluster} = await loadClusterFile(paths.clusterFile)
      await writeFirstBoot(cluster, {format: 'cloud-init', outDir: paths.bootDir, stateDir: paths.stateDir})
      // Vagrant's VM providers boot a Flatcar box from the CoreOS form of the same files.
      if (request.providerName === 'vagrant') await writeFirstBoot(cluster, {format: 'coreos', outDir: path.join(request.dir, 'boot-coreos'), stateDir: paths.stateDir})
      return {cluster}
    }, async () => `would write ${paths.clusterFile} (cluster ${request.name}: ${names.map((m, i) => `${m} at .${11 + i}`).join(', ')}, role main), ${paths.key} and ${paths.key}.pub, ${seeds.join(', ')}${request.providerName === 'vagrant' ? ` and their CoreOS form in ${path.join(request.dir, 'boot-coreos')}` : ''}, and the host keys in ${paths.stateDir}`)
    .step(`Boot ${request.nodes} nodes from their first-boot files`, async ({cluster, network, images}) => {
      await Promise.all(cluster.machines.map(async (m) => {
        const userData = await readFile(path.join(paths.bootDir, firstBootFileName(m, 'cloud-init')), 'utf8')
        await request.provider.createNode(network, run, {machine: m.name, ip: m.ip, image: images.node, metaData: metaData(m.name, run), userData})
      }))
      return {}
    }, async () => `would create nodes ${names.join(', ')} from the node image, each seeded with its file of ${paths.bootDir} (NoCloud meta-data instance-id <name>-${run})`)
    .step('Wait for SSH with the host keys berth generated', async ({cluster}) => {
      await Promise.all(cluster.machines.map((m) => waitForSsh(cluster, m, {identity: paths.key, stateDir: paths.stateDir, timeoutMs: request.timeoutMs})))
      return {}
    }, async () => `would wait up to ${request.timeoutMs / 1000} s for each node to run \`true\` over SSH as root with ${paths.key}, accepting only the host key in ${paths.stateDir}`)
    .step(`Wait for ${request.nodes} healthy etcd members`, async ({cluster, network, registry, images}) => {
      await waitForEtcd(cluster.machines.map((m) => `http://${m.ip}:${cluster.etcd.clientPort}`), request.nodes, request.timeoutMs)
      const record: LocalRecord = {
        name: request.name, provider: request.providerName, run, networkId: network.id, subnet: network.subnet,
        registry, image: images.node, createdAt: new Date().toISOString(),
      }
      await writeRecord(request.dir, record)
      return {record}
    }, async () => `would wait up to ${request.timeoutMs / 1000} s for ${request.nodes} healthy voting members (${names.join(', ')}), then write ${paths.record}`)

  const undo = async () => {
    const made = plan.handed()
    // Nodes by the cluster's name: none existed before this start (checked above), so every one is this run's.
    for (const node of await request.provider.listNodes(request.name)) await request.provider.removeNode(node.id)
    if (made.registry) await request.provider.stopRegistry(made.registry)
    if (made.network) await request.provider.removeNetwork(made.network.id)
    await removeLocalFolder(request.dir)
  }
  const result = (): StartResult => {
    const {record, cluster} = plan.result()
    return {record, cluster}
  }
  return {steps: plan.steps, result, undo}
}

/** The cluster.yaml of a local cluster: `nodes` main machines at .11, .12, … of its subnet. */
export function clusterYaml(name: string, registry: string, subnet: string, nodes: number): string {
  return [
    `# Local cluster ${name}, written by \`berth local-cluster start\`.`,
    `name: ${name}`,
    `registry: {url: "${registry}", insecure: true}`,
    'ssh: {user: root, authorizedKeyFiles: [id_ed25519.pub]}',
    'machines:',
    ...Array.from({length: nodes}, (_, i) => `  - {name: main-${i + 1}, ip: ${machineIp(subnet, i)}, role: main}`),
    '',
  ].join('\n')
}

/** Generates the provisioner's ed25519 key pair for a local cluster (private key 0600). */
async function writeProvisionerKey(file: string): Promise<void> {
  const pair = generateEd25519('berth-provisioner')
  await writeFileAtomic(file, pair.private, 0o600)
  await writeFileAtomic(`${file}.pub`, `${pair.public}\n`, 0o644)
}
