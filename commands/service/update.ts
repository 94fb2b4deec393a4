import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {followFlags, serviceEtcd, serviceEtcdFlags} from '../../src/access/service-change-flags.js'
import {apiClient, apiUrlFlags} from '../../src/access/cluster-access.js'
import type {ChangeResult} from '../../src/access/service-change.js'

export default class ServiceUpdate extends BerthCommand {
  static override summary = 'Change a service\'s image or environment and follow its rolling update until it ends.'
  static override description = `Stores the changed spec as a new revision (berth service history) with an audit entry, then shows the rollout the scheduler runs: update.parallelism replicas at a time, each batch gated on health; a batch not healthy within update.healthyDeadline rolls back (or pauses, failureAction: pause). A new --image is stored through an agent's admin API (the cluster's first that answers, or --url), which pins it to the digest its tag names now, as service deploy does; a tag that does not resolve changes nothing. Exit code 0 when the rollout completed, 1 when it rolled back, paused or was superseded, 2 for bad usage. --detach returns at once. A global service is changed on every machine at once (no rollout).`
  static override examples = [
    '<%= config.bin %> service update web --image registry.local/web:2 --local-cluster demo',
    '<%= config.bin %> service update web --env LOG_LEVEL=debug --env OLD= -c cluster.yaml',
    '<%= config.bin %> service update web --image web:3 --detach --json',
  ]
  static override enableJsonFlag = true
  static override args = {name: Args.string({required: true, description: 'The service to change.'})}
  static override flags = {
    ...serviceEtcdFlags,
    ...apiUrlFlags,
    ...followFlags,
    image: Flags.string({description: 'The new image reference.'}),
    env: Flags.string({description: 'Set KEY=VALUE in the environment (repeatable); KEY= removes it.', multiple: true}),
  }

  async run(): Promise<ChangeResult> {
    const {args, flags} = await this.parse(ServiceUpdate)
    const {updateService, endChange} = await import('../../src/access/service-change.js')
    const result = await updateService(args.name, {image: flags.image, env: flags.env}, {endpoints: await serviceEtcd(flags), api: () => apiClient(flags), detach: flags.detach, timeoutMs: flags.timeout * 1000, mode: this.jsonEnabled() ? 'silent' : 'auto'})
    return endChange(result, {log: (line) => this.log(line), json: this.jsonEnabled()})
  }
}
