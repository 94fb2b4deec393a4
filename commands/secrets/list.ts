import {BerthCommand} from '../../src/cli/base.js'
import {secretsBackend, secretsFlags} from '../../src/access/cluster-access.js'
import {withSecretsBackend} from '../../src/agent/store/secrets-service.js'

export default class SecretsList extends BerthCommand {
  static override summary = 'List the names of the stored service secrets.'
  static override description = 'Names only: values stay sealed in the store and are never decrypted here.'
  static override examples = ['<%= config.bin %> secrets list -c cluster.yaml', '<%= config.bin %> secrets list --local-cluster demo --json', '<%= config.bin %> secrets list --options /etc/berth/agent.json']
  static override enableJsonFlag = true
  static override flags = secretsFlags

  async run(): Promise<{secrets: string[]}> {
    const {flags} = await this.parse(SecretsList)
    const secrets = await withSecretsBackend(await secretsBackend(flags), (store) => store.secretNames())
    for (const name of secrets) this.log(name)
    return {secrets}
  }
}
