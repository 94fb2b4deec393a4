import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {clusterView, opsFlags, opsTarget, ttyFlag} from '../../src/ops/cluster.js'
import {execInReplica} from '../../src/ops/exec.js'
import {oneReplica, serviceReplicas} from '../../src/ops/select.js'

export default class ServiceExec extends BerthCommand {
  static override summary = 'Run a command, or an interactive shell, inside a replica\'s container.'
  static override description = 'Runs `docker exec` on the replica\'s machine over SSH (host keys verified). Without a command it starts a shell (bash if the image has it, else sh) with a terminal of this one\'s size, resized with it. The words after -- reach the container as they are (no shell); the exit code is theirs. Without --machine or --replica, the first running replica is chosen. A replica that is not running is explained: where it last ran and why it stopped.'
  static override examples = [
    '<%= config.bin %> service exec web',
    '<%= config.bin %> service exec web --machine main-2 -- cat /etc/hostname',
    '<%= config.bin %> service exec web --replica web.main-3 --local-cluster demo -- sh -c \'ls /data\'',
  ]
  static override strict = false
  static override args = {service: Args.string({description: 'Service name.', required: true})}
  static override flags = {
    ...opsFlags,
    machine: Flags.string({char: 'm', description: 'A replica on this machine.', exclusive: ['replica']}),
    replica: Flags.string({char: 'r', description: 'This replica, like web.main-1.'}),
    tty: ttyFlag,
  }

  async run(): Promise<void> {
    const {args, argv, flags} = await this.parse(ServiceExec)
    const target = await opsTarget(flags)
    const replica = oneReplica(target.cluster, serviceReplicas(target.cluster, await clusterView(target, flags.etcd), args.service), flags)
    const code = await execInReplica(target.machines, replica, (argv as string[]).slice(1), {tty: flags.tty}).finally(() => target.machines.close())
    if (code !== 0) this.exit(code)
  }
}
