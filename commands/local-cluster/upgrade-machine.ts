import * as Args from '@oclif/core/args'

import {BerthCommand} from '../../src/cli/base.js'
import {planOrRun} from '../../src/cli/progress.js'
import {ETCD_PREFIX} from '../../src/layout/records.js'
import {localFlags, localMachine, openLocal} from '../../src/local-cluster/context.js'
import {upgradeFlags} from '../../src/upgrade/flags.js'
import {nodeShells} from '../../src/local-cluster/node-shell.js'
import {upgradeMachineSteps} from '../../src/upgrade/machine.js'
import {sharedEtcd} from '../../src/etcd/client.js'
import {etcdEndpoints} from '../../src/cluster/target.js'

export default class LocalClusterUpgradeMachine extends BerthCommand {
  static override summary = 'Upgrade one node as `cluster upgrade-machine` does, drained from the local balancer around it.'
  static override examples = [
    '<%= config.bin %> local-cluster upgrade-machine main-2',
    '<%= config.bin %> local-cluster upgrade-machine main-2 --image 0.2.0-1a2b3c4d5e6f --dry-run',
  ]
  static override aliases = ['local-cluster:upgrade_machine']
  static override enableJsonFlag = true
  static override args = {node: Args.string({description: 'The node to upgrade.', required: true})}
  static override flags = {...localFlags, ...upgradeFlags}

  async run(): Promise<{upgraded: string; image: string} | {plan: string[]}> {
    const {args, flags} = await this.parse(LocalClusterUpgradeMachine)
    const local = await openLocal(flags)
    const machine = localMachine(local, args.node).name
    const {localBalancerHooks} = await import('../../src/balancer/local.js')
    const machines = nodeShells(local.provider, local.record.name)
    const etcd = sharedEtcd(etcdEndpoints(local.cluster))
    const {image, steps} = upgradeMachineSteps({
      cluster: local.cluster, machine, image: flags.image, etcdPrefix: ETCD_PREFIX, timeoutMs: flags.timeout * 1000,
      machines,
      etcd,
      balancer: await localBalancerHooks(local),
    })
    const dry = await planOrRun({steps, close: () => Promise.all([etcd.close(), machines.close()])}, {dryRun: flags['dry-run'], mode: this.jsonEnabled() ? 'silent' : 'auto', log: (t) => this.log(t)})
    if (dry) return dry
    return {upgraded: machine, image}
  }
}
