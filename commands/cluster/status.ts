import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {resolveTarget, targetFlags} from '../../src/provision/target.js'
import type {ClusterStatus} from '../../src/provision/status.js'

export default class ClusterStatusCommand extends BerthCommand {
  static override summary = 'Show every machine: role, etcd membership and health, installed version, agent state, services.'
  static override description = `Reads etcd only (the main machines' client URLs, or --etcd), so it works from any computer that reaches the cluster. An agent whose leased record has expired is shown as "down"; a machine the installer never finished on as "not installed".`
  static override examples = [
    '<%= config.bin %> cluster status',
    '<%= config.bin %> cluster status --local-cluster demo',
    '<%= config.bin %> cluster status -c cluster.yaml --etcd http://10.0.0.11:2379 --json',
  ]
  static override enableJsonFlag = true
  static override flags = {
    ...targetFlags,
    etcd: Flags.string({description: 'etcd client URL to ask (repeatable; default: every main machine\'s).', multiple: true}),
  }

  async run(): Promise<ClusterStatus> {
    const {flags} = await this.parse(ClusterStatusCommand)
    const {cluster} = await resolveTarget(flags)
    const {gatherStatus, statusLines} = await import('../../src/provision/status.js')
    const status = await gatherStatus(cluster, {endpoints: flags.etcd})
    for (const line of statusLines(status)) this.log(line)
    return status
  }
}
