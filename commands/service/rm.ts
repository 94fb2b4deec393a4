import * as Args from '@oclif/core/args'

import {BerthCommand} from '../../src/cli/base.js'
import {apiClient, apiFlags} from '../../src/access/cluster-access.js'
import {validateServiceName} from '../../src/spec/service.js'

export default class ServiceRm extends BerthCommand {
  static override summary = 'Remove a service from the desired state.'
  static override description = 'Every agent stops its container politely (SIGTERM, then the stop timeout) and removes its unit. Exit code 1 when there is no such service.'
  static override examples = ['<%= config.bin %> service rm web -c cluster.yaml', '<%= config.bin %> service rm web --url https://10.0.0.11:8443 --token-file ~/.berth/token --ca agent.crt']
  static override args = {name: Args.string({required: true, description: 'Service name.'})}
  static override flags = apiFlags

  async run(): Promise<void> {
    const {args, flags} = await this.parse(ServiceRm)
    validateServiceName(args.name)
    await (await apiClient(flags)).deleteService(args.name)
    this.log(`Removed ${args.name}.`)
  }
}
