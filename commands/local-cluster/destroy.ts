import {BerthCommand} from '../../src/cli/base.js'
import {localFlags, providerFor} from '../../src/local-cluster/context.js'
import {destroyLocal, type DestroyResult} from '../../src/local-cluster/destroy.js'
import {localDir, requireRecord} from '../../src/local-cluster/record.js'
import {stateRoot} from '../../src/paths.js'

export default class LocalClusterDestroy extends BerthCommand {
  static override summary = 'Remove a local cluster: exactly the nodes, registry and network its start made, by id.'
  static override examples = ['<%= config.bin %> local-cluster destroy', '<%= config.bin %> local-cluster destroy --name big --json']
  static override enableJsonFlag = true
  static override flags = {...localFlags}

  async run(): Promise<DestroyResult> {
    const {flags} = await this.parse(LocalClusterDestroy)
    const dir = localDir(flags.name, flags['state-dir'] ?? stateRoot())
    const record = await requireRecord(dir, flags.name)
    const result = await destroyLocal(await providerFor(record.provider, dir), record, dir)
    this.log(`Removed local cluster ${flags.name}: ${result.nodes.length} node${result.nodes.length === 1 ? '' : 's'}, its registry and network.`)
    if (result.kept) this.warn(`kept ${dir} and what berth did not write there: ${result.kept.join(', ')}`)
    return result
  }
}
