import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {resolveTarget, targetFlags} from '../../src/provision/target.js'
import type {ReplicaRow} from '../../src/scheduler/ps.js'

export default class ServicePs extends BerthCommand {
  static override summary = 'Show where every replica runs: machine, desired and observed state, container, since when; pending ones and why.'
  static override description = `Reads etcd only (the main machines' client URLs, or --etcd). Replicated services show the scheduler's assignments and its pending list; a global service shows one copy per machine that runs it (SERVICE.MACHINE). OBSERVED is what the machine's agent last reported for the replica's unit ("machine down" when its agent record is gone). REV is the revision each replica runs (berth service history); a line per rollout follows the table.`
  static override examples = [
    '<%= config.bin %> service ps',
    '<%= config.bin %> service ps web --local-cluster demo',
    '<%= config.bin %> service ps -c cluster.yaml --etcd http://10.0.0.11:2379 --json',
  ]
  static override enableJsonFlag = true
  static override args = {name: Args.string({description: 'Only this service.'})}
  static override flags = {
    ...targetFlags,
    etcd: Flags.string({description: 'etcd client URL to ask (repeatable; default: every main machine\'s).', multiple: true}),
  }

  async run(): Promise<{replicas: ReplicaRow[]}> {
    const {args, flags} = await this.parse(ServicePs)
    const {cluster} = await resolveTarget(flags)
    const [{RecordStore}, {etcdEndpoints}, {readPsInputs, replicaRows, replicaLines, rolloutLines}] = await Promise.all([import('../../src/etcd/records.js'), import('../../src/cluster/target.js'), import('../../src/scheduler/ps.js')])
    const store = await RecordStore.connect(flags.etcd ?? etcdEndpoints(cluster))
    try {
      const inputs = await readPsInputs(store)
      const replicas = replicaRows(inputs, cluster.unitPrefix, args.name)
      for (const line of [...replicaLines(replicas), ...rolloutLines(inputs, args.name)]) this.log(line)
      return {replicas}
    } finally {
      store.close()
    }
  }
}
