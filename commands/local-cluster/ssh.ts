import * as Args from '@oclif/core/args'
import {execa} from 'execa'

import {BerthCommand} from '../../src/cli/base.js'
import {localFlags, localMachine, openLocal} from '../../src/local-cluster/context.js'
import {sshArgs} from '../../src/local-cluster/ssh-args.js'

export default class LocalClusterSsh extends BerthCommand {
  static override summary = 'Open a shell on a node, or run a command there, over SSH with its verified host key.'
  static override examples = ['<%= config.bin %> local-cluster ssh main-1', '<%= config.bin %> local-cluster ssh main-2 -- etcdctl member list', '<%= config.bin %> local-cluster ssh main-1 -- systemctl is-system-running']
  static override strict = false
  static override args = {node: Args.string({description: 'Node name (main-1, …).', required: true})}
  static override flags = {...localFlags}

  async run(): Promise<void> {
    const {args, argv, flags} = await this.parse(LocalClusterSsh)
    const local = await openLocal(flags)
    const machine = localMachine(local, args.node)
    const command = (argv as string[]).slice(1)
    const result = await execa('ssh', [...(command.length === 0 ? ['-t'] : []), ...sshArgs(local.paths, local.cluster.ssh.user, machine), ...command], {stdio: 'inherit', reject: false})
    if (result.exitCode !== 0) this.exit(result.exitCode ?? 1)
  }
}
