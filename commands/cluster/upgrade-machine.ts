import * as Args from '@oclif/core/args'

import {BerthCommand} from '../../src/cli/base.js'
import {configFlag, stateDirFlag} from '../../src/cli/flags.js'
import {planOrRun} from '../../src/cli/progress.js'
import {ETCD_PREFIX} from '../../src/layout/records.js'
import {UsageError} from '../../src/errors.js'
import {upgradeMachineFlags} from '../../src/upgrade/flags.js'
import {commandHooks} from '../../src/upgrade/hooks.js'
import {sshShells} from '../../src/cluster/remote.js'
import {upgradeMachineSteps} from '../../src/upgrade/machine.js'
import {sharedEtcd} from '../../src/etcd/client.js'
import {etcdEndpoints} from '../../src/cluster/target.js'
import {resolveTarget} from '../../src/provision/target.js'

export default class UpgradeMachine extends BerthCommand {
  static override summary = 'Upgrade one machine: stop its services politely, remove the installed system, run the newest installer.'
  static override description = 'Stops the agent, then every prefixed service (SIGTERM, each service\'s stop timeout), removes the units, the agent\'s options and the env files (never etcd or /etc/berth/secrets), pulls the installer image and runs the installer unit, then waits until etcd is healthy with all members, the installer recorded the new version, and the agent converged with every service active. The machine stays an etcd member throughout. With --drain-command/--ready-command, it is taken out of a load balancer first and put back last.'
  static override aliases = ['cluster:upgrade_machine']
  static override examples = [
    '<%= config.bin %> cluster upgrade-machine main-2',
    '<%= config.bin %> cluster upgrade-machine main-2 --image 0.2.0-1a2b3c4d5e6f --dry-run',
    '<%= config.bin %> cluster upgrade_machine 10.0.0.12 --drain-command \'lb drain $BERTH_MACHINE\' --ready-command \'lb ready $BERTH_MACHINE\'',
  ]
  static override enableJsonFlag = true
  static override args = {machine: Args.string({description: 'The machine to upgrade (name or IP).', required: true})}
  static override flags = {config: configFlag, 'state-dir': stateDirFlag, ...upgradeMachineFlags}

  async run(): Promise<{upgraded: string; image: string} | {plan: string[]}> {
    const {args, flags} = await this.parse(UpgradeMachine)
    if (Boolean(flags['drain-command']) !== Boolean(flags['ready-command'])) throw new UsageError([{path: '--drain-command', message: 'needs --ready-command too (and the other way round)', fix: 'give both, or neither'}])
    const {cluster, stateDir, identity} = await resolveTarget(flags)
    const machines = sshShells(cluster, {identity, stateDir})
    const etcd = sharedEtcd(etcdEndpoints(cluster))
    const {image, steps} = upgradeMachineSteps({
      cluster, machine: args.machine, image: flags.image, etcdPrefix: ETCD_PREFIX, timeoutMs: flags.timeout * 1000,
      machines,
      etcd,
      balancer: flags['drain-command'] ? commandHooks(flags['drain-command'], flags['ready-command']!) : undefined,
    })
    const dry = await planOrRun({steps, close: () => Promise.all([etcd.close(), machines.close()])}, {dryRun: flags['dry-run'], mode: this.jsonEnabled() ? 'silent' : 'auto', log: (t) => this.log(t)})
    if (dry) return dry
    return {upgraded: args.machine, image}
  }
}
