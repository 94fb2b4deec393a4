import {BerthError} from '../errors.js'
import {hostName, machineShells, type MachineChannel, type MachineShells} from '../machine/shell.js'
import type {NodeProvider} from './provider.js'

/** A channel into one node by its id: each command runs as `docker exec <id> sh -c <command>`. */
export function nodeChannel(provider: Pick<NodeProvider, 'exec'>, id: string): MachineChannel {
  return {exec: (command, options) => provider.exec(id, ['sh', '-c', command], options), close: async () => {}}
}

/**
 * The machines of a local cluster through its provider (`docker exec`), no SSH: each machine
 * is found among the cluster's nodes by name on its first command.
 */
export function nodeShells(provider: Pick<NodeProvider, 'exec' | 'listNodes'>, cluster: string): MachineShells {
  return machineShells(async (machine) => {
    const node = (await provider.listNodes(cluster)).find((n) => n.machine === machine.name)
    if (!node) throw new BerthError(`${hostName(machine)}: no node of local cluster ${cluster} runs it`)
    return nodeChannel(provider, node.id)
  })
}
