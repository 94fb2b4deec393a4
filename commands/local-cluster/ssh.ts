import * as Args from '@oclif/core/args'

import {BerthCommand} from '../../src/cli/base.js'
import {localFlags} from '../../src/local-cluster/context.js'
import {opsTarget, ttyFlag} from '../../src/ops/cluster.js'
import {sshMachine} from '../../src/ops/ssh.js'

export default class LocalClusterSsh extends BerthCommand {
  static override summary = 'Open a shell on a node, or run a command there, over SSH with its verified host key.'
  static override description = 'The same as `berth ssh NODE --local-cluster NAME`.'
  static override examples = ['<%= config.bin %> local-cluster ssh main-1', '<%= config.bin %> local-cluster ssh main-2 -- etcdctl member list', '<%= config.bin %> local-cluster ssh main-1 -- systemctl is-system-running']
  static override strict = false
  static override args = {node: Args.string({description: 'Node name (main-1, …).', required: true})}
  static override flags = {...localFlags, tty: ttyFlag}

  async run(): Promise<void> {
    const {args, argv, flags} = await this.parse(LocalClusterSsh)
    const target = await opsTarget({config: '', 'local-cluster': flags.name, 'state-dir': flags['state-dir']})
    const code = await sshMachine(target, args.node, (argv as string[]).slice(1), {tty: flags.tty}).finally(() => target.machines.close())
    if (code !== 0) this.exit(code)
  }
}
