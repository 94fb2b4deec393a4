import * as Args from '@oclif/core/args'

import {BerthCommand} from '../../src/cli/base.js'
import {readDeployFile} from '../../src/access/deploy-file.js'
import {apiClient, apiFlags} from '../../src/access/cluster-access.js'

export default class ServiceDeploy extends BerthCommand {
  static override summary = 'Create or change the services of a YAML or JSON file.'
  static override description = 'The file maps names to specs under services:. Every service is checked first (exit code 2 and every problem when one is bad, and nothing is sent), then each is PUT to the admin API; agents converge within about a second.'
  static override examples = [
    '<%= config.bin %> service deploy web.yaml -c cluster.yaml',
    '<%= config.bin %> service deploy web.yaml --local-cluster demo',
    '<%= config.bin %> service deploy web.yaml --url https://10.0.0.11:8443 --token-file ~/.berth/token --ca agent.crt',
  ]
  static override enableJsonFlag = true
  static override args = {file: Args.string({required: true, description: 'YAML or JSON file with services: {NAME: SPEC}.'})}
  static override flags = apiFlags

  async run(): Promise<{deployed: string[]}> {
    const {args, flags} = await this.parse(ServiceDeploy)
    const specs = await readDeployFile(args.file)
    const client = await apiClient(flags)
    for (const [name, spec] of specs) {
      await client.putService(name, spec)
      this.log(`Deployed ${name} (${spec.image}).`)
    }
    return {deployed: [...specs.keys()]}
  }
}
