import {BerthCommand} from '../../src/cli/base.js'
import {localFlags} from '../../src/local-cluster/context.js'
import {hostPrefixFlag} from '../../src/ops/cluster.js'
import {sshConfigOf} from '../../src/ops/ssh.js'
import {resolveTarget} from '../../src/provision/target.js'

export default class LocalClusterSshConfig extends BerthCommand {
  static override summary = 'Print ~/.ssh/config stanzas for the nodes of a local cluster.'
  static override description = 'The same as `berth cluster ssh-config --local-cluster NAME`.'
  static override examples = ['<%= config.bin %> local-cluster ssh-config >> ~/.ssh/config', '<%= config.bin %> local-cluster ssh-config --host-prefix dev-']
  static override flags = {...localFlags, 'host-prefix': hostPrefixFlag}

  async run(): Promise<void> {
    const {flags} = await this.parse(LocalClusterSshConfig)
    const target = await resolveTarget({config: '', 'local-cluster': flags.name, 'state-dir': flags['state-dir']})
    this.log(await sshConfigOf(target, flags['host-prefix']))
  }
}
