import * as Args from '@oclif/core/args'

import {BerthCommand} from '../../src/cli/base.js'
import {apiClient, apiFlags} from '../../src/cli/cluster-access.js'

export default class ServiceStop extends BerthCommand {
  static override summary = 'Stop and remove a container started by `service run` (quartermaster\'s POST /stop).'
  static override description = 'Removes the run\'s service and its sealed registry auth; its agent stops the container politely. Exit code 1 when no run has the id.'
  static override examples = [
    '<%= config.bin %> service stop run-my-service-1f3a9c0e5b7d2a46 -c cluster.yaml',
    '<%= config.bin %> service stop run-1f3a9c0e5b7d2a46 --local-cluster demo --json',
  ]
  static override enableJsonFlag = true
  static override args = {id: Args.string({required: true, description: 'The id `service run` printed.'})}
  static override flags = apiFlags

  async run(): Promise<{id: string}> {
    const {args, flags} = await this.parse(ServiceStop)
    const {id} = await (await apiClient(flags)).quartermaster('POST', '/stop', {id: args.id})
    this.log(`Stopped ${id}.`)
    return {id}
  }
}
