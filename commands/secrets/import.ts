import * as Args from '@oclif/core/args'

import {BerthCommand} from '../../src/cli/base.js'
import {secretsBackend, secretsFlags} from '../../src/access/cluster-access.js'
import {importSecrets, withSecretsBackend} from '../../src/agent/store/secrets-service.js'

export default class SecretsImport extends BerthCommand {
  static override summary = 'Encrypt and store every secret of a JSON file.'
  static override description = 'The file is one JSON object of NAME: "value" pairs (the seed\'s set-secrets). Every name and value is checked and every secret sealed before the first is stored, so a bad file stores nothing. Delete the file afterwards.'
  static override examples = ['<%= config.bin %> secrets import secrets.json -c cluster.yaml', '<%= config.bin %> secrets import secrets.json --options /etc/berth/agent.json']
  static override enableJsonFlag = true
  static override args = {file: Args.string({required: true, description: 'JSON file of NAME: "value" pairs.'})}
  static override flags = secretsFlags

  async run(): Promise<{imported: string[]}> {
    const {args, flags} = await this.parse(SecretsImport)
    const imported = await withSecretsBackend(await secretsBackend(flags), async (store, key) => importSecrets(store, await key(), args.file))
    this.log(`Stored ${imported.length} secret(s): ${imported.join(', ')}.`)
    return {imported}
  }
}
