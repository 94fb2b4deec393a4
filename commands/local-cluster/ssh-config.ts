import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {localFlags, openLocal} from '../../src/local-cluster/context.js'
import {sshConfig} from '../../src/local-cluster/ssh-args.js'

export default class LocalClusterSshConfig extends BerthCommand {
  static override summary = 'Print ~/.ssh/config stanzas for the nodes of a local cluster.'
  static override examples = ['<%= config.bin %> local-cluster ssh-config >> ~/.ssh/config', '<%= config.bin %> local-cluster ssh-config --host-prefix dev-']
  static override flags = {
    ...localFlags,
    'host-prefix': Flags.string({description: 'Prefix of each Host name.', default: 'berth-'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(LocalClusterSshConfig)
    const local = await openLocal(flags)
    this.log(sshConfig(local.paths, local.cluster.ssh.user, local.cluster.machines, flags['host-prefix']))
  }
}
