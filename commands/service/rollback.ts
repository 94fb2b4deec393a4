import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {followFlags, serviceEtcd, serviceEtcdFlags} from '../../src/access/service-change-flags.js'
import type {ChangeResult} from '../../src/access/service-change.js'

export default class ServiceRollback extends BerthCommand {
  static override summary = 'Put an earlier revision of a service back and follow its rollout until it ends.'
  static override description = `Without --to, the revision before the current spec's (berth service history NAME lists them). The older spec is stored as a new revision (its note says which it came from), with a service.rollback audit entry, and rolls like any change: batch by batch, gated on health. Exit code 0 when the rollout completed, 1 when it did not, 2 for bad usage (a revision not kept).`
  static override examples = [
    '<%= config.bin %> service rollback web --local-cluster demo',
    '<%= config.bin %> service rollback web --to 3 -c cluster.yaml',
    '<%= config.bin %> service rollback web --detach --json',
  ]
  static override enableJsonFlag = true
  static override args = {name: Args.string({required: true, description: 'The service to roll back.'})}
  static override flags = {
    ...serviceEtcdFlags,
    ...followFlags,
    to: Flags.integer({description: 'The revision to go back to (default: the one before the current).', min: 1}),
  }

  async run(): Promise<ChangeResult> {
    const {args, flags} = await this.parse(ServiceRollback)
    const {rollbackService, endChange} = await import('../../src/access/service-change.js')
    const result = await rollbackService(args.name, flags.to, {endpoints: await serviceEtcd(flags), detach: flags.detach, timeoutMs: flags.timeout * 1000, mode: this.jsonEnabled() ? 'silent' : 'auto'})
    return endChange(result, {log: (line) => this.log(line), json: this.jsonEnabled()})
  }
}
