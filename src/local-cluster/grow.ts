import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {type AddMachineRequest, addMachineSteps} from '../cluster/add-machine.js'
import {removeMachineSteps} from '../cluster/remove-machine.js'
import {nodeShells} from './node-shell.js'
import {type ProgressMode, type Step, runSteps} from '../cli/progress.js'
import {loadClusterFile} from '../config/load.js'
import type {Cluster, Machine, Role} from '../config/types.js'
import type {SharedEtcd} from '../etcd/client.js'
import {firstBootFileName} from '../firstboot/index.js'
import {ETCD_PREFIX} from '../layout/records.js'
import {type LocalCluster, localNetwork} from './context.js'
import {machineIp, metaData} from './start.js'
import {waitForSsh} from './wait.js'

/** The first free node address after the ones in use. */
function nextIp(local: LocalCluster): string {
  const used = new Set(local.cluster.machines.map((m) => m.ip))
  for (let i = 0; ; i++) if (!used.has(machineIp(local.record.subnet, i))) return machineIp(local.record.subnet, i)
}

/** What adding a node is asked to do. */
export interface AddLocalNodeOptions {
  role: Role
  name?: string
  timeoutMs: number
  mode: ProgressMode
  warn: (m: string) => void
  /** The flow's etcd client, through the main nodes before this one; the caller closes it. */
  etcd: SharedEtcd
}

/** The add-machine request both halves of a local addition share: the next free address, through the first main node. */
function addRequest(local: LocalCluster, options: AddLocalNodeOptions): Omit<AddMachineRequest, 'cluster' | 'wait'> {
  const existing = local.cluster.machines.find((m) => m.role === 'main')!.name
  return {file: local.paths.clusterFile, existing, ip: nextIp(local), name: options.name, role: options.role, format: 'cloud-init', outDir: local.paths.bootDir, stateDir: local.paths.stateDir, timeoutMs: options.timeoutMs, force: false, warn: options.warn, etcd: options.etcd}
}

/**
 * Adds a node the way an operator adds a machine: `cluster add-machine` writes its
 * first-boot file (and adds a learner for a main node), the node boots from it, and a
 * second `add-machine --wait` promotes it once it has caught up. Both, and a removal that
 * takes a failed node out again, talk through `etcd` (the main nodes before this one).
 */
export async function addLocalNode(local: LocalCluster, options: AddLocalNodeOptions): Promise<Machine> {
  const base = addRequest(local, options)
  const prepare = await addMachineSteps({...base, cluster: local.cluster, wait: false})
  await runSteps(prepare.steps, options.mode)
  const {machine} = prepare
  try {
    const {cluster} = await loadClusterFile(local.paths.clusterFile)
    await runSteps(bootSteps(local, cluster, machine, options.timeoutMs), options.mode)
    if (machine.role === 'main') await runSteps((await addMachineSteps({...base, cluster, wait: true})).steps, options.mode)
  } catch (error) {
    // Leave the cluster as it was: take the learner (if any) and the node out again.
    const grown = {...local, cluster: (await loadClusterFile(local.paths.clusterFile)).cluster}
    if (grown.cluster.machines.some((m) => m.name === machine.name)) {
      await removeLocalNode(grown, machine.name, {force: true, mode: 'silent', warn: () => {}, etcd: options.etcd}).catch(() => undefined)
    }
    const node = (await local.provider.listNodes(local.record.name)).find((n) => n.machine === machine.name)
    if (node) await local.provider.removeNode(node.id)
    throw error
  }
  return machine
}

/**
 * Every step addLocalNode would run, in order, each with its preview, for `--dry-run`: the
 * preparing add-machine, the boot and the SSH wait, and for a main node the promoting
 * add-machine as it would see cluster.yaml then (with the node recorded). Changes nothing.
 */
export async function addLocalNodePlan(local: LocalCluster, options: AddLocalNodeOptions): Promise<{machine: Machine; steps: Step[]}> {
  const base = addRequest(local, options)
  const prepare = await addMachineSteps({...base, cluster: local.cluster, wait: false})
  const {machine} = prepare
  const grown = {...local.cluster, machines: [...local.cluster.machines, machine]}
  const promote = machine.role === 'main' ? (await addMachineSteps({...base, cluster: grown, wait: true})).steps : []
  return {machine, steps: [...prepare.steps, ...bootSteps(local, grown, machine, options.timeoutMs), ...promote]}
}

/** Boot the node from the first-boot file add-machine wrote, then wait for its SSH with the generated host key. */
function bootSteps(local: LocalCluster, cluster: Cluster, machine: Machine, timeoutMs: number): Step[] {
  const userData = path.join(local.paths.bootDir, firstBootFileName(machine, 'cloud-init'))
  return [{
    title: `Boot ${machine.name} (${machine.ip}) from its first-boot file`,
    run: async () => {
      await local.provider.createNode(await localNetwork(local), local.record.run, {machine: machine.name, ip: machine.ip, image: local.record.image, metaData: metaData(machine.name, local.record.run), userData: await readFile(userData, 'utf8')})
    },
    preview: async () => `would create node ${machine.name} at ${machine.ip} on network ${(await localNetwork(local)).name} from image ${local.record.image}, with user-data ${userData}`,
  }, {
    title: `Wait for SSH on ${machine.name} with its generated host key`,
    run: () => waitForSsh(cluster, machine, {identity: local.paths.key, stateDir: local.paths.stateDir, timeoutMs}),
    preview: async () => `would wait up to ${Math.round(timeoutMs / 1000)} s for \`true\` to run over SSH on ${machine.ip} as ${cluster.ssh.user} with ${local.paths.key}, the host key as ${path.join(local.paths.bootDir, 'known_hosts')} holds it`,
  }]
}

/**
 * The steps of removing a node: `cluster remove-machine` (quorum checked, etcd stopped
 * through `docker exec`), then its container; `etcd` never goes through the node leaving.
 * `close` closes the nodes' shells.
 */
export async function removeLocalNodeSteps(local: LocalCluster, name: string, options: {force: boolean; warn: (m: string) => void; etcd: SharedEtcd}): Promise<{steps: Step[]; close: () => Promise<void>}> {
  const existing = local.cluster.machines.find((m) => m.role === 'main' && m.name !== name)?.name ?? name
  const machines = nodeShells(local.provider, local.record.name)
  const removal = removeMachineSteps({
    cluster: local.cluster, file: local.paths.clusterFile, existing, old: name, force: options.force, etcdPrefix: ETCD_PREFIX, warn: options.warn,
    machines,
    etcd: options.etcd,
  })
  const node = (await local.provider.listNodes(local.record.name)).find((n) => n.machine === name)
  const container: Step = {
    title: `Remove ${name}'s container`,
    run: async () => (node ? local.provider.removeNode(node.id) : 'no container'),
    preview: async () => (node ? `would remove container ${node.id.slice(0, 12)} (node ${name}) and its volumes` : 'no container'),
  }
  return {steps: [...removal.steps, container], close: () => machines.close()}
}

/** Removes a node (removeLocalNodeSteps), closing its shells whatever happens. */
export async function removeLocalNode(local: LocalCluster, name: string, options: {force: boolean; mode: ProgressMode; warn: (m: string) => void; etcd: SharedEtcd}): Promise<void> {
  const removal = await removeLocalNodeSteps(local, name, options)
  try {
    await runSteps(removal.steps, options.mode)
  } finally {
    await removal.close()
  }
}
