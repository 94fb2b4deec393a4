import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {machineArgs, machineFlags} from '../../src/access/machine-flags.js'
import {machineNamed} from '../../src/cluster/target.js'
import {resolveTarget} from '../../src/provision/target.js'

export default class MachineDrain extends BerthCommand {
  static override summary = 'Take a machine out of placement: its replicated services move elsewhere.'
  static override description = 'Writes the drain record in etcd; the scheduler\'s leader then places the machine\'s replicas of replicated services on other machines and gives it no new ones. Global services keep running on it. With --wait, returns once none is assigned to it and those it had run elsewhere. `berth machine ready` takes it back. cluster upgrade-machine, rolling-upgrade and remove-machine drain a machine themselves.'
  static override examples = [
    '<%= config.bin %> machine drain worker-2 --wait',
    '<%= config.bin %> machine drain main-3 --local-cluster demo --json',
  ]
  static override enableJsonFlag = true
  static override args = machineArgs
  static override flags = {
    ...machineFlags,
    wait: Flags.boolean({description: 'Wait until every replicated service it ran runs elsewhere.'}),
    timeout: Flags.integer({description: 'Seconds --wait may take.', default: 120, min: 1}),
  }

  async run(): Promise<{machine: string; alreadyDrained: boolean; waited: boolean}> {
    const {args, flags} = await this.parse(MachineDrain)
    const {cluster} = await resolveTarget(flags)
    const machine = machineNamed(cluster, args.machine, 'MACHINE')
    const [{RecordStore}, {etcdEndpoints}, {drainMachine, replicaRowsNow, replicatedOn, waitDrained}] = await Promise.all([import('../../src/etcd/records.js'), import('../../src/cluster/target.js'), import('../../src/cluster/drain.js')])
    const store = await RecordStore.connect(flags.etcd ?? etcdEndpoints(cluster))
    try {
      // What it runs before the drain: the replicas --wait must see running elsewhere.
      const services = flags.wait ? replicatedOn(await replicaRowsNow(store, cluster.unitPrefix), machine.name) : new Set<string>()
      const alreadyDrained = await drainMachine(store, machine.name)
      this.log(alreadyDrained ? `${machine.name} was drained already.` : `Drained ${machine.name}: it gets no replicated work.`)
      if (flags.wait) {
        let last = ''
        await waitDrained(store, machine.name, services, {timeoutMs: flags.timeout * 1000, unitPrefix: cluster.unitPrefix, onLeft: (left) => {
          const now = left.length === 0 ? `Every replicated service of ${machine.name} runs elsewhere.` : `Waiting: ${left.join(', ')}`
          if (now !== last) this.log(now)
          last = now
        }})
      }
      return {machine: machine.name, alreadyDrained, waited: flags.wait}
    } finally {
      store.close()
    }
  }
}
