import {BerthCommand} from '../../src/cli/base.js'
import {ETCD_PREFIX} from '../../src/layout/records.js'
import {localFlags, openLocal} from '../../src/local-cluster/context.js'
import {rollingFlags, rollingMode} from '../../src/upgrade/flags.js'
import {nodeShells} from '../../src/local-cluster/node-shell.js'
import {renderRolling} from '../../src/upgrade/render.js'
import {type RollingResult, rollingUpgrade} from '../../src/upgrade/rolling.js'
import {sharedEtcd} from '../../src/etcd/client.js'
import {etcdEndpoints} from '../../src/cluster/target.js'

export default class LocalClusterRollingUpgrade extends BerthCommand {
  static override summary = 'Upgrade every node in turn as `cluster rolling-upgrade` does, each drained from the local balancer around it.'
  static override examples = [
    '<%= config.bin %> local-cluster rolling-upgrade --dry-run',
    '<%= config.bin %> local-cluster rolling-upgrade --image 0.2.0-1a2b3c4d5e6f',
    '<%= config.bin %> local-cluster rolling-upgrade --resume',
  ]
  static override aliases = ['local-cluster:rolling_upgrade']
  static override enableJsonFlag = true
  static override flags = {...localFlags, ...rollingFlags}

  async run(): Promise<RollingResult> {
    const {flags} = await this.parse(LocalClusterRollingUpgrade)
    const local = await openLocal(flags)
    const {localBalancerHooks} = await import('../../src/balancer/local.js')
    const machines = nodeShells(local.provider, local.record.name)
    const etcd = sharedEtcd(etcdEndpoints(local.cluster))
    const result = await rollingUpgrade({
      cluster: local.cluster, image: flags.image, maxParallel: flags['max-parallel'], mode: rollingMode(flags), dryRun: flags['dry-run'],
      etcdPrefix: ETCD_PREFIX, timeoutMs: flags.timeout * 1000,
      machines,
      etcd,
      balancer: await localBalancerHooks(local),
      log: (line) => this.jsonEnabled() || this.log(line),
    }).finally(() => Promise.all([etcd.close(), machines.close()]))
    this.log(renderRolling(result, flags['dry-run']))
    return result
  }
}
