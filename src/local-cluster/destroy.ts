import {rm} from 'node:fs/promises'

import {balancerContainers, removeBalancer} from '../balancer/docker.js'
import type {NodeProvider} from './provider.js'
import type {LocalRecord} from './record.js'

/** What destroy removed, by id. */
export interface DestroyResult {
  nodes: string[]
  registry?: string
  network?: string
}

/**
 * Removes exactly what a start made: the nodes carrying its cluster and run labels, the
 * balancer if one was added, the registry and network by the ids it recorded, then its folder.
 */
export async function destroyLocal(provider: NodeProvider, record: LocalRecord, dir: string): Promise<DestroyResult> {
  const nodes = (await provider.listNodes(record.name)).filter((n) => n.cluster === record.name)
  for (const node of nodes) await provider.removeNode(node.id)
  // The balancer is attached to the network: it must go before the network can.
  for (const id of await balancerContainers(record.name)) await removeBalancer(id)
  await provider.stopRegistry(record.registry)
  await provider.removeNetwork(record.networkId)
  await rm(dir, {recursive: true, force: true})
  return {nodes: nodes.map((n) => n.id), registry: record.registry.id, network: record.networkId}
}
