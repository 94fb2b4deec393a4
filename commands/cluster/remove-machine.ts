import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {configFlag, identityFlag, stateDirFlag} from '../../src/cli/flags.js'
import {planOrRun} from '../../src/cli/progress.js'
import {removeMachineEndpoints, removeMachineSteps} from '../../src/cluster/remove-machine.js'
import {sharedEtcd} from '../../src/etcd/client.js'
import {sshShells} from '../../src/cluster/remote.js'
import {ETCD_PREFIX} from '../../src/layout/records.js'
import {resolveTarget} from '../../src/provision/target.js'

export default class RemoveMachine extends BerthCommand {
  static override summary = 'Remove a machine from a cluster without breaking etcd\'s quorum.'
  static override description = `Refuses when the etcd members left could not hold a quorum (another member is down, say) or OLD is the last member, and says the numbers; --force overrides with a warning. Removes the member, stops OLD's etcd for good over SSH, deletes OLD's records from etcd and drops it from cluster.yaml.`
  static override aliases = ['cluster:remove_machine']
  static override examples = [
    '<%= config.bin %> cluster remove-machine main-1 main-4',
    '<%= config.bin %> cluster remove-machine main-1 10.0.0.14 --dry-run',
    '<%= config.bin %> cluster remove_machine main-1 main-3 --force',
  ]
  static override enableJsonFlag = true
  static override args = {
    existing: Args.string({description: 'A machine that stays (name or IP), to reach etcd through.', required: true}),
    old: Args.string({description: 'The machine to remove (name or IP).', required: true}),
  }
  static override flags = {
    config: configFlag,
    force: Flags.boolean({description: 'Remove it even when quorum would be at risk.'}),
    identity: identityFlag,
    'dry-run': Flags.boolean({description: 'Print the plan and change nothing.'}),
    'state-dir': stateDirFlag,
  }

  async run(): Promise<{removed: string} | {plan: string[]}> {
    const {args, flags} = await this.parse(RemoveMachine)
    const {cluster, stateDir, identity} = await resolveTarget(flags)
    const etcd = sharedEtcd(removeMachineEndpoints(cluster, args.existing, args.old))
    const machines = sshShells(cluster, {identity, stateDir})
    const {steps} = removeMachineSteps({
      cluster,
      file: flags.config,
      existing: args.existing,
      old: args.old,
      force: flags.force,
      etcdPrefix: ETCD_PREFIX,
      warn: (message) => this.warn(message),
      machines,
      etcd,
    })
    const dry = await planOrRun({steps, close: () => Promise.all([etcd.close(), machines.close()])}, {dryRun: flags['dry-run'], mode: this.jsonEnabled() ? 'silent' : 'auto', log: (t) => this.log(t)})
    if (dry) return dry
    return {removed: args.old}
  }
}
