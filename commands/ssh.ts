import * as Args from '@oclif/core/args'

import {BerthCommand} from '../src/cli/base.js'
import {opsTarget, ttyFlag} from '../src/ops/cluster.js'
import {sshMachine} from '../src/ops/ssh.js'
import {targetFlags} from '../src/provision/target.js'

export default class Ssh extends BerthCommand {
  static override summary = 'Open a shell on a machine of the cluster, or run a command there, over SSH with the host key berth generated for it.'
  static override description = 'The machine is named by its name or IP in cluster.yaml (or a local cluster\'s). Only the host key berth generated is accepted, never one seen for the first time. The words after -- are joined by spaces and run by the login shell, as with OpenSSH\'s ssh; the exit code is the remote command\'s.'
  static override examples = [
    '<%= config.bin %> ssh main-1',
    '<%= config.bin %> ssh main-2 -c cluster.yaml -- systemctl status berth-agent',
    '<%= config.bin %> ssh main-1 --local-cluster demo -- journalctl -u berth-web -n 20',
  ]
  static override strict = false
  static override args = {machine: Args.string({description: 'Machine name or IP.', required: true})}
  static override flags = {...targetFlags, tty: ttyFlag}

  async run(): Promise<void> {
    const {args, argv, flags} = await this.parse(Ssh)
    const target = await opsTarget(flags)
    const code = await sshMachine(target, args.machine, (argv as string[]).slice(1), {tty: flags.tty}).finally(() => target.machines.close())
    if (code !== 0) this.exit(code)
  }
}
