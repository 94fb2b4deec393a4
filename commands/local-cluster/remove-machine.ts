import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {localFlags, localMachine, openLocal} from '../../src/local-cluster/context.js'
import {removeLocalNodeSteps} from '../../src/local-cluster/grow.js'
import {planOrRun} from '../../src/cli/progress.js'
import {etcdEndpoints} from '../../src/cluster/target.js'
import {sharedEtcd} from '../../src/etcd/client.js'

export default class LocalClusterRemoveMachine extends BerthCommand {
  static override summary = 'Remove a node (the newest by default) without breaking etcd\'s quorum, then delete its container.'
  static override examples = ['<%= config.bin %> local-cluster remove-machine', '<%= config.bin %> local-cluster remove-machine main-2', '<%= config.bin %> local-cluster remove-machine main-2 --force', '<%= config.bin %> local-cluster remove-machine main-2 --dry-run']
  static override aliases = ['local-cluster:remove_machine']
  static override enableJsonFlag = true
  static override args = {node: Args.string({description: 'Node to remove (default: the last one in cluster.yaml).'})}
  static override flags = {
    ...localFlags,
    force: Flags.boolean({description: 'Remove it even when quorum would be at risk.'}),
    'dry-run': Flags.boolean({description: 'Print the plan (the member by name, id and peer URL, the commands, the container) and change nothing.'}),
  }

  async run(): Promise<{removed: string} | {plan: string[]}> {
    const {args, flags} = await this.parse(LocalClusterRemoveMachine)
    const local = await openLocal(flags)
    const name = args.node ? localMachine(local, args.node).name : local.cluster.machines.at(-1)!.name
    const etcd = sharedEtcd(etcdEndpoints(local.cluster, name))
    const removal = await removeLocalNodeSteps(local, name, {force: flags.force, warn: (m) => this.warn(m), etcd}).catch(async (error: Error) => {
      await etcd.close()
      throw error
    })
    const dry = await planOrRun({steps: removal.steps, close: () => Promise.all([etcd.close(), removal.close()])}, {dryRun: flags['dry-run'], mode: this.jsonEnabled() ? 'silent' : 'auto', log: (t) => this.log(t)})
    if (dry) return dry
    this.log(`Removed ${name} from local cluster ${local.record.name}.`)
    return {removed: name}
  }
}
