import * as Args from '@oclif/core/args'

import {BerthCommand} from '../../src/cli/base.js'
import {serviceEtcd, serviceEtcdFlags} from '../../src/access/service-change-flags.js'
import type {RolloutRecord} from '../../src/layout/records.js'
import type {HistoryRow} from '../../src/scheduler/rollout-view.js'

export default class ServiceHistory extends BerthCommand {
  static override summary = 'List the kept revisions of a service (newest first) and the state of its rollout.'
  static override description = 'Every change of a service\'s spec is kept as a revision (the last 10); * marks the one the service runs now. BY is who stored it: the admin API, the CLI, or the scheduler rolling a failed update back. Reads etcd only.'
  static override examples = [
    '<%= config.bin %> service history web --local-cluster demo',
    '<%= config.bin %> service history web -c cluster.yaml --json',
  ]
  static override enableJsonFlag = true
  static override args = {name: Args.string({required: true, description: 'The service.'})}
  static override flags = serviceEtcdFlags

  async run(): Promise<{revisions: HistoryRow[]; rollout?: RolloutRecord}> {
    const {args, flags} = await this.parse(ServiceHistory)
    const [{serviceHistory}, {historyLines}] = await Promise.all([import('../../src/access/service-change.js'), import('../../src/scheduler/rollout-view.js')])
    const history = await serviceHistory(args.name, {endpoints: await serviceEtcd(flags)})
    for (const line of historyLines(history.revisions, history.rollout)) this.log(line)
    return history
  }
}
