import * as Args from '@oclif/core/args'

import {BerthCommand} from '../../src/cli/base.js'
import {apiClient, apiFlags} from '../../src/cli/cluster-access.js'

export default class ServiceStatus extends BerthCommand {
  static override summary = 'Say what a container started by `service run` is doing, in quartermaster\'s words (GET /status/ID).'
  static override description = 'pending (no machine yet), preparing (assigned; pulling or not started), starting, started (running), failed, shutdown (stopping), orphaned (its machine is down and it has not moved yet). `service ps ID` shows the machine.'
  static override examples = [
    '<%= config.bin %> service status run-my-service-1f3a9c0e5b7d2a46 -c cluster.yaml',
    '<%= config.bin %> service status run-1f3a9c0e5b7d2a46 --local-cluster demo --json',
  ]
  static override enableJsonFlag = true
  static override args = {id: Args.string({required: true, description: 'The id `service run` printed.'})}
  static override flags = apiFlags

  async run(): Promise<{id: string; status: string}> {
    const {args, flags} = await this.parse(ServiceStatus)
    const {id, status = 'unknown'} = await (await apiClient(flags)).quartermaster('GET', `/status/${encodeURIComponent(args.id)}`)
    this.log(`${id}: ${status}`)
    return {id, status}
  }
}
