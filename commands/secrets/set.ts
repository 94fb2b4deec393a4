import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {secretsBackend, secretsFlags} from '../../src/access/cluster-access.js'
import {readSecretValue, setSecret, withSecretsBackend} from '../../src/agent/store/secrets-service.js'

export default class SecretsSet extends BerthCommand {
  static override summary = 'Encrypt a service secret and store it.'
  static override description = 'The value is read from stdin or --from-file, never from the command line (which `ps` shows), and sealed in this process before it reaches the store: with the cluster\'s master key from berth\'s state dir (-c, --local-cluster), or with the key provider of an agent options file (--options). One trailing line break is dropped.'
  static override examples = [
    'printf %s "$DB_PASSWORD" | <%= config.bin %> secrets set DB_PASSWORD -c cluster.yaml',
    '<%= config.bin %> secrets set TLS_KEY_B64 --from-file key.b64 --local-cluster demo',
    'printf %s "$DB_PASSWORD" | <%= config.bin %> secrets set DB_PASSWORD --options /etc/berth/agent.json',
  ]
  static override args = {name: Args.string({required: true, description: 'Secret name: an environment variable name, like DB_PASSWORD.'})}
  static override flags = {
    ...secretsFlags,
    'from-file': Flags.string({description: 'Read the value from this file instead of stdin.'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(SecretsSet)
    const value = await readSecretValue(flags['from-file'])
    const kind = await withSecretsBackend(await secretsBackend(flags), async (store, key) => {
      const provider = await key()
      await setSecret(store, provider, args.name, value)
      return provider.kind
    })
    this.log(`Stored secret ${args.name}, sealed with the ${kind} key.`)
  }
}
