import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import type {Role} from '../../src/config/types.js'
import {localFlags, openLocal} from '../../src/local-cluster/context.js'
import {addLocalNode, addLocalNodePlan} from '../../src/local-cluster/grow.js'
import {planOrRun} from '../../src/cli/progress.js'
import {etcdEndpoints} from '../../src/cluster/target.js'
import {sharedEtcd} from '../../src/etcd/client.js'

export default class LocalClusterAddMachine extends BerthCommand {
  static override summary = 'Boot one more node and add it to the cluster (a main node joins etcd as a learner, then votes).'
  static override examples = ['<%= config.bin %> local-cluster add-machine', '<%= config.bin %> local-cluster add-machine --role worker --json', '<%= config.bin %> local-cluster add-machine --dry-run']
  static override aliases = ['local-cluster:add_machine']
  static override enableJsonFlag = true
  static override flags = {
    ...localFlags,
    role: Flags.string({description: 'Role of the new node.', options: ['main', 'worker', 'data'], default: 'main'}),
    'machine-name': Flags.string({description: 'Name of the new node (default <role>-N).'}),
    timeout: Flags.integer({description: 'Seconds to wait for the node to boot and catch up.', default: 120}),
    'dry-run': Flags.boolean({description: 'Print the plan (the learner\'s peer URL, the first-boot file and its initial cluster, the node, the promotion) and change nothing.'}),
  }

  async run(): Promise<{name: string; ip: string; role: string} | {plan: string[]}> {
    const {flags} = await this.parse(LocalClusterAddMachine)
    const local = await openLocal(flags)
    const etcd = sharedEtcd(etcdEndpoints(local.cluster))
    const mode = this.jsonEnabled() ? 'silent' : 'auto'
    const options = {role: flags.role as Role, name: flags['machine-name'], timeoutMs: flags.timeout * 1000, mode, warn: (m: string) => this.warn(m), etcd} as const
    if (flags['dry-run']) {
      const plan = await addLocalNodePlan(local, options).catch(async (error: Error) => {
        await etcd.close()
        throw error
      })
      return (await planOrRun({steps: plan.steps, close: () => etcd.close()}, {dryRun: true, mode, log: (t) => this.log(t)}))!
    }
    const machine = await addLocalNode(local, options).finally(() => etcd.close())
    this.log(`${machine.name} (${machine.ip}) joined local cluster ${local.record.name} as ${machine.role}.`)
    return {name: machine.name, ip: machine.ip, role: machine.role}
  }
}
