import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {configFlag, loadWithWarnings, stateDirFlag} from '../../src/cli/flags.js'
import {planOrRun} from '../../src/cli/progress.js'
import {addMachineEndpoints, type AddMachineResult, addMachineSteps} from '../../src/cluster/add-machine.js'
import {sharedEtcd} from '../../src/etcd/client.js'
import {isIPv4Problem} from '../../src/cluster/target.js'
import type {Role} from '../../src/config/types.js'
import {FORMATS, type Format, clusterStateDir} from '../../src/firstboot/index.js'

export default class AddMachine extends BerthCommand {
  static override summary = 'Add a machine to a running cluster, as an etcd learner first for a main machine.'
  static override description = `Checks etcd's health through EXISTING, adds NEW as a learner (main machines), writes NEW's first-boot file joining the running cluster and records NEW in cluster.yaml. With --wait it then waits for NEW to boot and catch up and promotes it; if NEW never starts, the learner is removed and cluster.yaml restored. Running it again resumes.`
  static override aliases = ['cluster:add_machine']
  static override examples = [
    '<%= config.bin %> cluster add-machine main-1 10.0.0.14 --dry-run',
    '<%= config.bin %> cluster add-machine main-1 10.0.0.14 --name main-4 --format ignition -o boot/',
    '<%= config.bin %> cluster add-machine 10.0.0.11 10.0.0.14 --wait --timeout 120',
    '<%= config.bin %> cluster add_machine main-1 10.0.0.22 --role worker',
  ]
  static override enableJsonFlag = true
  static override args = {
    existing: Args.string({description: 'A machine of the cluster (name or IP) to reach etcd through.', required: true}),
    new: Args.string({description: 'IP of the new machine.', required: true}),
  }
  static override flags = {
    config: configFlag,
    name: Flags.string({description: 'Name of the new machine (default <role>-N).'}),
    role: Flags.string({description: 'Role of the new machine.', options: ['main', 'worker', 'data'], default: 'main'}),
    format: Flags.string({char: 'f', description: 'First-boot format.', options: [...FORMATS], default: 'coreos'}),
    out: Flags.string({char: 'o', description: 'Folder for the first-boot file, next to the others; a file of its name that berth did not write is never replaced.', default: './cloud-config-out'}),
    wait: Flags.boolean({description: 'Wait for the machine to boot and catch up, then promote it.'}),
    timeout: Flags.integer({description: 'Seconds --wait waits before it takes the learner out again.', default: 300}),
    force: Flags.boolean({description: 'Add it even though an etcd member is unhealthy.'}),
    'dry-run': Flags.boolean({description: 'Print the plan and change nothing.'}),
    'state-dir': stateDirFlag,
  }

  async run(): Promise<AddMachineResult | {plan: string[]}> {
    const {args, flags} = await this.parse(AddMachine)
    isIPv4Problem(args.new, 'NEW')
    const {cluster} = await loadWithWarnings(flags.config)
    const etcd = sharedEtcd(addMachineEndpoints(cluster, args.existing))
    const {steps, result} = await addMachineSteps({
      cluster,
      file: flags.config,
      existing: args.existing,
      ip: args.new,
      name: flags.name,
      role: flags.role as Role,
      format: flags.format as Format,
      outDir: flags.out,
      stateDir: clusterStateDir(cluster, flags['state-dir']),
      wait: flags.wait,
      timeoutMs: flags.timeout * 1000,
      force: flags.force,
      warn: (message) => this.warn(message),
      etcd,
    }).catch((error: unknown) => {
      etcd.close()
      throw error
    })
    const dry = await planOrRun({steps, close: () => etcd.close()}, {dryRun: flags['dry-run'], mode: this.jsonEnabled() ? 'silent' : 'auto', log: (t) => this.log(t)})
    if (dry) return dry
    const done = result()
    if (!flags.wait && done.machine.role === 'main') {
      this.log(`Boot ${done.machine.name} with ${done.firstBootFile}, then run \`berth cluster add-machine ${args.existing} ${args.new} --wait\` to promote it.`)
    }
    return done
  }
}
