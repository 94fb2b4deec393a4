import {BerthCommand} from '../../src/cli/base.js'
import {apiClient, apiFlags} from '../../src/access/cluster-access.js'
import type {ServiceSpec} from '../../src/spec/service.js'

export default class ServiceLs extends BerthCommand {
  static override summary = 'List the desired services.'
  static override description = 'One line per service: name, image, roles and published ports, as the admin API holds them.'
  static override examples = [
    '<%= config.bin %> service ls -c cluster.yaml',
    '<%= config.bin %> service ls --local-cluster demo --json',
    '<%= config.bin %> service ls --url https://10.0.0.11:8443 --token-file ~/.berth/token --ca agent.crt',
  ]
  static override enableJsonFlag = true
  static override flags = apiFlags

  async run(): Promise<{services: Array<{name: string; spec: ServiceSpec}>}> {
    const {flags} = await this.parse(ServiceLs)
    const services = await (await apiClient(flags)).services()
    const rows = [['NAME', 'IMAGE', 'ROLES', 'PORTS'], ...services.map(({name, spec}) => [name, spec.image, spec.roles.join(','), (spec.ports ?? []).join(',') || '-'])]
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)))
    if (services.length === 0) this.log('No services.')
    else for (const row of rows) this.log(row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '))
    return {services}
  }
}
