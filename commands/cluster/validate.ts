import {BerthCommand} from '../../src/cli/base.js'
import {configFlag, loadWithWarnings} from '../../src/cli/flags.js'

export default class ClusterValidate extends BerthCommand {
  static override summary = 'Check a cluster.yaml and list every problem at once.'
  static override description = 'Unknown keys, bad addresses, duplicate names, too many etcd members: each problem is one line with the file, the path and a fix. Exit code 2 when there is any.'
  static override examples = ['<%= config.bin %> cluster validate', '<%= config.bin %> cluster validate -c prod.yaml --json']
  static override enableJsonFlag = true
  static override flags = {config: configFlag}

  async run(): Promise<{file: string; name: string; machines: number; mains: number; warnings: string[]}> {
    const {flags} = await this.parse(ClusterValidate)
    const {cluster, warnings} = await loadWithWarnings(flags.config)
    const mains = cluster.machines.filter((m) => m.role === 'main').length
    this.log(`${flags.config}: cluster ${cluster.name} is valid: ${cluster.machines.length} machines, ${mains} etcd members.`)
    return {file: flags.config, name: cluster.name, machines: cluster.machines.length, mains, warnings}
  }
}
