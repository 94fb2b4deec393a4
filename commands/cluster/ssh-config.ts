import {BerthCommand} from '../../src/cli/base.js'
import {hostPrefixFlag} from '../../src/ops/cluster.js'
import {sshConfigOf} from '../../src/ops/ssh.js'
import {resolveTarget, targetFlags} from '../../src/provision/target.js'

export default class ClusterSshConfig extends BerthCommand {
  static override summary = 'Print ~/.ssh/config stanzas for the machines of the cluster, with the host keys berth generated.'
  static override description = 'Each stanza names the provisioner\'s key and berth\'s known_hosts for the cluster (written with the first-boot files) with strict host-key checking, so OpenSSH\'s ssh, scp and rsync accept only the keys berth generated.'
  static override examples = [
    '<%= config.bin %> cluster ssh-config >> ~/.ssh/config',
    '<%= config.bin %> cluster ssh-config -c cluster.yaml --host-prefix prod-',
    '<%= config.bin %> cluster ssh-config --local-cluster demo',
  ]
  static override flags = {...targetFlags, 'host-prefix': hostPrefixFlag}

  async run(): Promise<void> {
    const {flags} = await this.parse(ClusterSshConfig)
    this.log(await sshConfigOf(await resolveTarget(flags), flags['host-prefix']))
  }
}
