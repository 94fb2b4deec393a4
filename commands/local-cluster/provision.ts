import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {parallelUploadsFlag} from '../../src/cli/flags.js'
import {localFlags, openLocal} from '../../src/local-cluster/context.js'
import type {ClusterStatus} from '../../src/provision/status.js'
import type {ProvisionResult} from '../../src/provision/local.js'

export default class LocalClusterProvision extends BerthCommand {
  static override summary = 'Install a running local cluster end to end and deploy the example service on every node.'
  static override description = `On a cluster from \`local-cluster start\`: builds the installer image and the example service image (examples/web), pushes both to the cluster's registry (through a node when this host's dockerd does not trust it), adds services.web to the local cluster.yaml, uploads node secrets to every node (which starts the installer there), waits until every node is installed and its agent converged with web active, checks that http://NODE:8080/ answers on each, and prints cluster status. Running it again changes nothing on the nodes.`
  static override examples = [
    '<%= config.bin %> local-cluster start 3 && <%= config.bin %> local-cluster provision',
    '<%= config.bin %> local-cluster provision --name demo --json',
  ]
  static override enableJsonFlag = true
  static override flags = {
    ...localFlags,
    timeout: Flags.integer({description: 'Seconds to wait for the nodes to be installed and answering.', default: 300}),
    parallel: parallelUploadsFlag,
  }

  async run(): Promise<ProvisionResult & {status: ClusterStatus}> {
    const {flags} = await this.parse(LocalClusterProvision)
    const local = await openLocal(flags)
    const {provisionSteps} = await import('../../src/provision/local.js')
    const {runSteps} = await import('../../src/cli/progress.js')
    const {gatherStatus, statusLines} = await import('../../src/provision/status.js')
    const {steps, result} = provisionSteps(local, {timeoutMs: flags.timeout * 1000, parallel: flags.parallel})
    await runSteps(steps, this.jsonEnabled() ? 'silent' : 'auto')
    const done = result()
    const {loadClusterFile} = await import('../../src/config/load.js')
    const status = await gatherStatus((await loadClusterFile(local.paths.clusterFile)).cluster)
    this.log(`The example service answers on every node (${done.secondsFromBuiltImage} s from the built images):`)
    for (const url of done.urls) this.log(`  ${url}`)
    this.log('')
    for (const line of statusLines(status)) this.log(line)
    return {...done, status}
  }
}
