import {BerthCommand} from '../../src/cli/base.js'
import {EtcdCluster} from '../../src/etcd/client.js'
import {findMember, membership} from '../../src/etcd/members.js'
import {localFlags, openLocal} from '../../src/local-cluster/context.js'

interface NodeStatus {
  name: string
  ip: string
  container: string
  etcd: string
}

export default class LocalClusterStatus extends BerthCommand {
  static override summary = 'Show a local cluster\'s nodes, their containers and etcd membership.'
  static override examples = ['<%= config.bin %> local-cluster status', '<%= config.bin %> local-cluster status --json']
  static override enableJsonFlag = true
  static override flags = {...localFlags}

  async run(): Promise<{name: string; subnet: string; registry: string; nodes: NodeStatus[]}> {
    const {flags} = await this.parse(LocalClusterStatus)
    const local = await openLocal(flags)
    const containers = await local.provider.listNodes(local.record.name)
    const endpoints = local.cluster.machines.filter((m) => m.role === 'main').map((m) => `http://${m.ip}:${local.cluster.etcd.clientPort}`)
    const etcd = await EtcdCluster.connect(endpoints, {timeoutMs: 2000})
    const members = await etcd.members().catch(() => []).finally(() => etcd.close())
    const nodes = local.cluster.machines.map((m) => {
      const member = findMember(members, m.name) ?? findMember(members, m.ip)
      return {name: m.name, ip: m.ip, container: containers.find((c) => c.machine === m.name)?.state ?? 'missing', etcd: membership(member, m.role).text}
    })
    this.log(`Local cluster ${local.record.name} on ${local.record.subnet}, registry ${local.record.registry.host}`)
    for (const n of nodes) this.log(`  ${n.name.padEnd(10)} ${n.ip.padEnd(15)} ${n.container.padEnd(9)} etcd: ${n.etcd}`)
    return {name: local.record.name, subnet: local.record.subnet, registry: local.record.registry.host, nodes}
  }
}
