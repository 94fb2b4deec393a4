import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import path from 'node:path'

import {BerthCommand} from '../../src/cli/base.js'
import {configFlag, loadWithWarnings, stateDirFlag} from '../../src/cli/flags.js'
import {clusterFromQuickForm} from '../../src/config/quick.js'
import {FORMATS, clusterStateDir, writeFirstBoot} from '../../src/firstboot/index.js'

export default class NewCloudConfig extends BerthCommand {
  static override summary = 'Write each machine\'s first-boot file (CoreOS cloud-config, Ignition or cloud-init) and known_hosts.'
  static override description = `Reads cluster.yaml, or takes the seed scripts' quick form: the main machines' IPs as arguments with --registry and --ssh-key. Each file carries the hostname, the authorized key, an SSH host key berth generated and remembers, the etcd bootstrap, the registry and the installer's path unit. No secret goes into any of them.`
  static override aliases = ['cluster:new_cloud_config']
  static override examples = [
    '<%= config.bin %> cluster new-cloud-config -c cluster.yaml --format ignition --out boot/',
    'REGISTRY_URL=10.0.0.2:5000 <%= config.bin %> cluster new-cloud-config 10.0.0.11 10.0.0.12 10.0.0.13 --ssh-key ~/.ssh/id_ed25519.pub',
    '<%= config.bin %> cluster new_cloud_config 10.0.0.11 --worker 10.0.0.21 --registry 10.0.0.2:5000 --ssh-key key.pub --format cloud-init',
  ]
  static override enableJsonFlag = true
  static override strict = false
  static override args = {ip: Args.string({description: 'IP of a main machine (etcd member); repeat for each. Omit to read cluster.yaml.'})}
  static override flags = {
    config: configFlag,
    format: Flags.string({char: 'f', description: 'First-boot format.', options: [...FORMATS], default: 'coreos'}),
    out: Flags.string({char: 'o', description: 'Folder to write into: what berth wrote there before (its .berth-manifest) is replaced; a folder holding anything else, or the state dir, is refused.', default: './cloud-config-out'}),
    registry: Flags.string({description: 'Registry HOST[:PORT] (quick form).', env: 'REGISTRY_URL'}),
    'ssh-key': Flags.string({description: 'Provisioner\'s public key file (quick form).'}),
    worker: Flags.string({description: 'IP of a worker machine (quick form); repeatable.', multiple: true, default: []}),
    name: Flags.string({description: 'Cluster name (quick form).', default: 'berth'}),
    'state-dir': stateDirFlag,
  }

  async run(): Promise<{format: string; outDir: string; files: string[]; knownHosts: string}> {
    const {argv, flags} = await this.parse(NewCloudConfig)
    const ips = argv as string[]
    const {cluster} = ips.length > 0 || flags.worker.length > 0
      ? await clusterFromQuickForm({name: flags.name, mainIps: ips, workerIps: flags.worker, registry: flags.registry, sshKeyFile: flags['ssh-key']})
      : await loadWithWarnings(flags.config)
    const format = flags.format as (typeof FORMATS)[number]
    const stateDir = clusterStateDir(cluster, flags['state-dir'])
    const result = await writeFirstBoot(cluster, {format, outDir: flags.out, stateDir})
    const knownHosts = path.join(result.outDir, 'known_hosts')
    this.log(`Wrote ${result.files.length} ${format} first-boot files and known_hosts to ${result.outDir}`)
    return {format, outDir: result.outDir, files: result.files, knownHosts}
  }
}
