import {BerthCommand} from '../../src/cli/base.js'
import {machineArgs, machineFlags} from '../../src/access/machine-flags.js'
import {machineNamed} from '../../src/cluster/target.js'
import {resolveTarget} from '../../src/provision/target.js'

export default class MachineReady extends BerthCommand {
  static override summary = 'Take a drained machine back into placement.'
  static override description = 'Deletes the drain record in etcd. Replicas already moved stay where they are (placement is stable); new and rescheduled replicas may land on the machine again.'
  static override examples = ['<%= config.bin %> machine ready worker-2', '<%= config.bin %> machine ready main-3 --local-cluster demo --json']
  static override enableJsonFlag = true
  static override args = machineArgs
  static override flags = machineFlags

  async run(): Promise<{machine: string; wasDrained: boolean}> {
    const {args, flags} = await this.parse(MachineReady)
    const {cluster} = await resolveTarget(flags)
    const machine = machineNamed(cluster, args.machine, 'MACHINE')
    const [{RecordStore}, {etcdEndpoints}, {readyMachine}] = await Promise.all([import('../../src/etcd/records.js'), import('../../src/cluster/target.js'), import('../../src/cluster/drain.js')])
    const store = await RecordStore.connect(flags.etcd ?? etcdEndpoints(cluster))
    try {
      const wasDrained = await readyMachine(store, machine.name)
      this.log(wasDrained ? `${machine.name} is ready: it takes replicated work again.` : `${machine.name} was not drained.`)
      return {machine: machine.name, wasDrained}
    } finally {
      store.close()
    }
  }
}
