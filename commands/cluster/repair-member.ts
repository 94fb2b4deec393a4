import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {planOrRun} from '../../src/cli/progress.js'
import {resolveTarget, targetFlags} from '../../src/provision/target.js'
import {repairMemberEndpoints, repairMemberSteps} from '../../src/recovery/repair.js'
import {sharedEtcd} from '../../src/etcd/client.js'
import {sshShells} from '../../src/cluster/remote.js'

export default class RepairMember extends BerthCommand {
  static override summary = 'Rebuild one etcd member whose data is gone: remove it, wipe it, add it back as a learner, promote it.'
  static override description = `With add-machine's and remove-machine's quorum rules (refused with the numbers when the other members could not hold a quorum; --force overrides what etcd can survive), stops MACHINE's etcd over SSH, removes its member, wipes its data dir and points it at the running cluster, adds it back as a learner, starts it and promotes it once it has caught up. The other members keep serving throughout. When every member is lost, use \`cluster restore\`.`
  static override aliases = ['cluster:repair_member']
  static override examples = [
    '<%= config.bin %> cluster repair-member main-2',
    '<%= config.bin %> cluster repair-member 10.0.0.12 --dry-run',
    '<%= config.bin %> cluster repair_member main-3 --local-cluster demo --json',
  ]
  static override enableJsonFlag = true
  static override args = {machine: Args.string({description: 'The main machine whose member to repair (name or IP).', required: true})}
  static override flags = {
    ...targetFlags,
    force: Flags.boolean({description: 'Repair it even when quorum would be at risk.'}),
    timeout: Flags.integer({description: 'Seconds to wait for the member to catch up before promoting it.', default: 60, min: 1}),
    'dry-run': Flags.boolean({description: 'Print the plan and change nothing.'}),
  }

  async run(): Promise<{repaired: string} | {plan: string[]}> {
    const {args, flags} = await this.parse(RepairMember)
    const {cluster, identity, stateDir} = await resolveTarget(flags)
    const etcd = sharedEtcd(repairMemberEndpoints(cluster, args.machine))
    const machines = sshShells(cluster, {identity, stateDir})
    const {steps} = repairMemberSteps({
      cluster,
      machine: args.machine,
      force: flags.force,
      machines,
      timeoutMs: flags.timeout * 1000,
      warn: (message) => this.warn(message),
      etcd,
    })
    const dry = await planOrRun({steps, close: () => Promise.all([etcd.close(), machines.close()])}, {dryRun: flags['dry-run'], mode: this.jsonEnabled() ? 'silent' : 'auto', log: (t) => this.log(t)})
    if (dry) return dry
    return {repaired: args.machine}
  }
}
