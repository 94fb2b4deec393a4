import * as Args from '@oclif/core/args'

import {BerthCommand} from '../../src/cli/base.js'
import {BerthError} from '../../src/errors.js'
import {secretsBackend, secretsFlags} from '../../src/access/cluster-access.js'
import {cliOrigin} from '../../src/audit/entry.js'
import {withSecretsBackend} from '../../src/agent/store/secrets-service.js'

export default class SecretsRm extends BerthCommand {
  static override summary = 'Delete a service secret.'
  static override description = 'Services that still name it fail to start until it is set again; exit code 1 when there was no such secret.'
  static override examples = ['<%= config.bin %> secrets rm OLD_API_KEY -c cluster.yaml', '<%= config.bin %> secrets rm OLD_API_KEY --options /etc/berth/agent.json']
  static override args = {name: Args.string({required: true, description: 'Secret name.'})}
  static override flags = secretsFlags

  async run(): Promise<void> {
    const {args, flags} = await this.parse(SecretsRm)
    const deleted = await withSecretsBackend(await secretsBackend(flags), (store) => store.deleteSecret(args.name, cliOrigin()))
    if (!deleted) throw new BerthError(`there is no secret ${args.name}; see berth secrets list`)
    this.log(`Deleted secret ${args.name}.`)
  }
}
