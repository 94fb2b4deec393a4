import {BerthCommand} from '../../src/cli/base.js'
import {configFlag, stateDirFlag} from '../../src/cli/flags.js'
import {ETCD_PREFIX} from '../../src/layout/records.js'
import {UsageError} from '../../src/errors.js'
import {rollingFlags, rollingMode, upgradeMachineFlags} from '../../src/upgrade/flags.js'
import {commandHooks} from '../../src/upgrade/hooks.js'
import {sshShells} from '../../src/cluster/remote.js'
import {renderRolling} from '../../src/upgrade/render.js'
import {type RollingResult, rollingUpgrade} from '../../src/upgrade/rolling.js'
import {sharedEtcd} from '../../src/etcd/client.js'
import {etcdEndpoints} from '../../src/cluster/target.js'
import {resolveTarget} from '../../src/provision/target.js'

export default class RollingUpgrade extends BerthCommand {
  static override summary = 'Upgrade every machine in turn, each gated on health; resumable.'
  static override description = 'Workers and data machines go first (the new installer is tried where etcd\'s quorum is not at stake), --max-parallel at a time; main machines go last, always one at a time. Each machine is upgraded as upgrade-machine does and must pass its health gate before the next starts. The first failure stops the upgrade with the machine, the step and the reason, leaving the machines after it untouched; progress is kept in etcd, so --resume continues where it stopped. A plain run refuses while an unfinished one exists.'
  static override aliases = ['cluster:rolling_upgrade']
  static override examples = [
    '<%= config.bin %> cluster rolling-upgrade --dry-run',
    '<%= config.bin %> cluster rolling-upgrade --image 0.2.0-1a2b3c4d5e6f --max-parallel 3',
    '<%= config.bin %> cluster rolling_upgrade --resume',
    '<%= config.bin %> cluster rolling-upgrade --abandon',
  ]
  static override enableJsonFlag = true
  static override flags = {
    config: configFlag,
    'state-dir': stateDirFlag,
    ...upgradeMachineFlags,
    ...rollingFlags,
  }

  async run(): Promise<RollingResult> {
    const {flags} = await this.parse(RollingUpgrade)
    if (Boolean(flags['drain-command']) !== Boolean(flags['ready-command'])) throw new UsageError([{path: '--drain-command', message: 'needs --ready-command too (and the other way round)', fix: 'give both, or neither'}])
    const {cluster, stateDir, identity} = await resolveTarget(flags)
    const machines = sshShells(cluster, {identity, stateDir})
    const etcd = sharedEtcd(etcdEndpoints(cluster))
    const result = await rollingUpgrade({
      cluster, image: flags.image, maxParallel: flags['max-parallel'], mode: rollingMode(flags), dryRun: flags['dry-run'], etcdPrefix: ETCD_PREFIX, timeoutMs: flags.timeout * 1000,
      machines,
      etcd,
      balancer: flags['drain-command'] ? commandHooks(flags['drain-command'], flags['ready-command']!) : undefined,
      log: (line) => this.jsonEnabled() || this.log(line),
    }).finally(() => Promise.all([etcd.close(), machines.close()]))
    this.log(renderRolling(result, flags['dry-run']))
    return result
  }
}
