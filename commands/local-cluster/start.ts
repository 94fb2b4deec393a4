import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {planOrRun} from '../../src/cli/progress.js'
import {localFlags, providerFor} from '../../src/local-cluster/context.js'
import {localDir} from '../../src/local-cluster/record.js'
import {startSteps} from '../../src/local-cluster/start.js'
import {stateRoot} from '../../src/paths.js'

export default class LocalClusterStart extends BerthCommand {
  static override summary = 'Start a cluster of N nodes on this computer, each booted from its cloud-init first-boot file.'
  static override description = `Nodes are containers with systemd, dockerd, sshd, etcd and cloud-init on a network of their own with static IPs, plus a registry they pull from. Returns when every node answers SSH with the host key berth generated and etcd reports N healthy members. A failed start removes what it made unless --retain.`
  static override examples = ['<%= config.bin %> local-cluster start', '<%= config.bin %> local-cluster start 5 --name big --json', '<%= config.bin %> local-cluster start 1 --retain', '<%= config.bin %> local-cluster start 5 --name big --dry-run']
  static override enableJsonFlag = true
  static override args = {nodes: Args.integer({description: 'How many nodes (1-9), each an etcd member.', default: 3})}
  static override flags = {
    ...localFlags,
    provider: Flags.string({description: 'What runs the nodes.', options: ['docker', 'vagrant'], default: 'docker'}),
    retain: Flags.boolean({description: 'Keep what a failed start made, to look at it.'}),
    timeout: Flags.integer({description: 'Seconds to wait for SSH and etcd.', default: 120}),
    'dry-run': Flags.boolean({description: 'Print what each step would do (files, nodes, addresses) and make nothing.'}),
  }

  async run(): Promise<{name: string; subnet: string; registry: string; nodes: {name: string; ip: string}[]; clusterFile: string} | {plan: string[]}> {
    const {args, flags} = await this.parse(LocalClusterStart)
    const dir = localDir(flags.name, flags['state-dir'] ?? stateRoot())
    const provider = await providerFor(flags.provider as 'docker' | 'vagrant', dir)
    const {ensureNodeImage, ensureRegistryImage} = await import('../../src/local-cluster/image.js')
    const {steps, result, undo} = await startSteps({
      name: flags.name, dir, nodes: args.nodes, provider, providerName: flags.provider as 'docker' | 'vagrant', timeoutMs: flags.timeout * 1000,
      ensureImages: async () => ({node: (await ensureNodeImage()).tag, registry: (await ensureRegistryImage()).tag}),
    })
    try {
      const dry = await planOrRun({steps}, {dryRun: flags['dry-run'], mode: this.jsonEnabled() ? 'silent' : 'auto', log: (t) => this.log(t)})
      if (dry) return dry
    } catch (error) {
      if (flags.retain) this.warn(`kept what the failed start made; remove it with \`berth local-cluster destroy --name ${flags.name}\``)
      else await undo()
      throw error
    }
    const {record, cluster} = result()
    const nodes = cluster.machines.map((m) => ({name: m.name, ip: m.ip}))
    this.log(`Local cluster ${record.name}: ${nodes.length} nodes on ${record.subnet}, registry ${record.registry.host}.`)
    this.log(`  berth local-cluster ssh main-1${flags.name === 'demo' ? '' : ` --name ${flags.name}`}      cluster.yaml: ${dir}/cluster.yaml`)
    return {name: record.name, subnet: record.subnet, registry: record.registry.host, nodes, clusterFile: `${dir}/cluster.yaml`}
  }
}
