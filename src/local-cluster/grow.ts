import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {type AddMachineRequest, addMachineSteps} from '../cluster/add-machine.js'
import {removeMachineSteps} from '../cluster/remove-machine.js'
import {nodeShells} from './node-shell.js'
import {type ProgressMode, runSteps} from '../cli/progress.js'
import {loadClusterFile} from '../config/load.js'
import type {Machine, Role} from '../config/types.js'
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

/**
 * Adds a node the way an operator adds a machine: `cluster add-machine` writes its
 * first-boot file (and adds a learner for a main node), the node boots from it, and a
 * second `add-machine --wait` promotes it once it has caught up. Both, and a removal that
 * takes a failed node out again, talk through `etcd` (the main nodes before this one).
 */
export async function addLocalNode(local: LocalCluster, options: {role: Role; name?: string; timeoutMs: number; mode: ProgressMode; warn: (m: string) => void; etcd: SharedEtcd}): Promise<Machine> {
  const ip = nextIp(local)
  const existing = local.cluster.machines.find((m) => m.role === 'main')!.name
  const base = {file: local.paths.clusterFile, existing, ip, name: options.name, role: options.role, format: 'cloud-init' as const, outDir: local.paths.bootDir, stateDir: local.paths.stateDir, timeoutMs: options.timeoutMs, force: false, warn: options.warn, etcd: options.etcd}
  const prepare = await addMachineSteps({...base, cluster: local.cluster, wait: false})
  await runSteps(prepare.steps, options.mode)
  const {machine} = prepare
  try {
    await bootAndPromote(local, machine, base, options)
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

async function bootAndPromote(local: LocalCluster, machine: Machine, base: Omit<AddMachineRequest, 'cluster' | 'wait'>, options: {timeoutMs: number; mode: ProgressMode}): Promise<void> {
  const {cluster} = await loadClusterFile(local.paths.clusterFile)
  await runSteps([{
    title: `Boot ${machine.name} (${machine.ip}) from its first-boot file`,
    run: async () => {
      const userData = await readFile(path.join(local.paths.bootDir, firstBootFileName(machine, 'cloud-init')), 'utf8')
      await local.provider.createNode(await localNetwork(local), local.record.run, {machine: machine.name, ip: machine.ip, image: local.record.image, metaData: metaData(machine.name, local.record.run), userData})
    },
  }, {
    title: `Wait for SSH on ${machine.name} with its generated host key`,
    run: () => waitForSsh(cluster, machine, {identity: local.paths.key, stateDir: local.paths.stateDir, timeoutMs: options.timeoutMs}),
  }], options.mode)
  if (machine.role === 'main') {
    const promote = await addMachineSteps({...base, cluster, wait: true})
    await runSteps(promote.steps, options.mode)
  }
}

/** Removes a node: `cluster remove-machine` (quorum checked, etcd stopped through `docker exec`), then its container; `etcd` never goes through the node leaving. */
export async function removeLocalNode(local: LocalCluster, name: string, options: {force: boolean; mode: ProgressMode; warn: (m: string) => void; etcd: SharedEtcd}): Promise<void> {
  const existing = local.cluster.machines.find((m) => m.role === 'main' && m.name !== name)?.name ?? name
  const machines = nodeShells(local.provider, local.record.name)
  const removal = removeMachineSteps({
    cluster: local.cluster, file: local.paths.clusterFile, existing, old: name, force: options.force, etcdPrefix: ETCD_PREFIX, warn: options.warn,
    machines,
    etcd: options.etcd,
  })
  const node = (await local.provider.listNodes(local.record.name)).find((n) => n.machine === name)
  removal.steps.push({title: `Remove ${name}'s container`, run: async () => (node ? local.provider.removeNode(node.id) : 'no container')})
  try {
    await runSteps(removal.steps, options.mode)
  } finally {
    await machines.close()
  }
}
