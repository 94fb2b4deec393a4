import {readdir, rm, rmdir} from 'node:fs/promises'
import path from 'node:path'

import {BALANCER_ROLE, containersOfRole, removeContainer} from './containers.js'
import type {NodeProvider} from './provider.js'
import type {LocalRecord} from './record.js'

/** What destroy removed, by id. */
export interface DestroyResult {
  nodes: string[]
  registry?: string
  network?: string
  /** Entries of the cluster's folder that berth did not write, left there with the folder. */
  kept?: string[]
}

// Everything a local cluster's start, add-machine, provision and the Vagrant provider write
// into its folder (localPaths, boot-coreos, vagrant); `.tmp-` names are atomic writes cut short.
const LOCAL_ENTRIES = new Set(['record.json', 'cluster.yaml', 'id_ed25519', 'id_ed25519.pub', 'boot', 'boot-coreos', 'state', 'vagrant'])

/**
 * Removes what berth wrote into a local cluster's folder, then the folder if nothing else
 * is left; returns the names it kept (a file someone put there is never deleted).
 */
export async function removeLocalFolder(dir: string): Promise<string[]> {
  const entries = await readdir(dir).catch(() => [] as string[])
  const kept: string[] = []
  for (const name of entries) {
    if (LOCAL_ENTRIES.has(name) || /^(record\.json|cluster\.yaml|id_ed25519(\.pub)?)\.tmp-[0-9a-f]+$/.test(name)) await rm(path.join(dir, name), {recursive: true, force: true})
    else kept.push(name)
  }
  if (kept.length === 0) await rmdir(dir).catch(() => undefined)
  return kept
}

/**
 * Removes exactly what a start made: the nodes carrying its cluster and run labels, the
 * balancer if one was added, the registry and network by the ids it recorded, then what
 * berth wrote into its folder.
 */
export async function destroyLocal(provider: NodeProvider, record: LocalRecord, dir: string): Promise<DestroyResult> {
  const nodes = (await provider.listNodes(record.name)).filter((n) => n.cluster === record.name)
  for (const node of nodes) await provider.removeNode(node.id)
  // The balancer is attached to the network: it must go before the network can.
  for (const id of await containersOfRole(record.name, BALANCER_ROLE)) await removeContainer(id)
  await provider.stopRegistry(record.registry)
  await provider.removeNetwork(record.networkId)
  const kept = await removeLocalFolder(dir)
  return {nodes: nodes.map((n) => n.id), registry: record.registry.id, network: record.networkId, ...kept.length > 0 ? {kept} : {}}
}
