import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {apiClient, apiFlags} from '../../src/cli/cluster-access.js'
import {UsageError} from '../../src/errors.js'

export default class ServiceRun extends BerthCommand {
  static override summary = 'Run a container on a worker machine, as quartermaster\'s POST /run does; prints its id.'
  static override description = 'Stores a replicated service with one replica, placed by the scheduler on a worker machine (roles: [worker]); the agent there pulls the image and runs it, and starts it again when it exits. The words after -- are the command, given to the container as they are (no shell). The id (run-…) is the service\'s name: `service status ID` says where it is, `service stop ID` removes it.'
  static override examples = [
    '<%= config.bin %> service run registry.local/web:1 -c cluster.yaml',
    '<%= config.bin %> service run user/image --name my_service --label team=data --memory 512 --local-cluster demo -- node index.js',
    '<%= config.bin %> service run busybox --json --url https://10.0.0.11:8443 --token-file ~/.berth/token --ca agent.crt -- sleep 50',
  ]
  static override enableJsonFlag = true
  static override strict = false
  static override args = {image: Args.string({required: true, description: 'Image to run; a name without a registry host is pulled from the cluster\'s registry.'})}
  static override flags = {
    ...apiFlags,
    name: Flags.string({description: 'A name to make the id from (run-NAME-…).'}),
    label: Flags.string({description: 'Container label KEY=VALUE (repeatable; berth.* is reserved).', multiple: true}),
    memory: Flags.integer({description: 'Memory limit and reservation in MB.', min: 6}),
  }

  async run(): Promise<{id: string}> {
    const {args, argv, flags} = await this.parse(ServiceRun)
    const labels: Record<string, string> = {}
    for (const pair of flags.label ?? []) {
      const at = pair.indexOf('=')
      if (at <= 0) throw new UsageError([{path: '--label', message: `${JSON.stringify(pair)} is not KEY=VALUE`, fix: 'write --label team=data'}])
      labels[pair.slice(0, at)] = pair.slice(at + 1)
    }
    const command = (argv as string[]).slice(1)
    const client = await apiClient(flags)
    const {id} = await client.quartermaster('POST', '/run', {
      image: args.image, ...(command.length > 0 ? {command} : {}), ...(flags.name ? {name: flags.name} : {}),
      ...(Object.keys(labels).length > 0 ? {labels} : {}), ...(flags.memory ? {memory: flags.memory} : {}),
    })
    this.log(`Started ${id} (${args.image}); see it with: berth service status ${id}`)
    return {id}
  }
}
