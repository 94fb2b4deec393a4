import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {SEALED_SECRETS, SECRETS_MOUNT} from '../../src/firstboot/model.js'

export default class NodeSecretsUnseal extends BerthCommand {
  static override summary = 'Open the KMS-sealed node secrets of this machine into memory (run at boot, on the node).'
  static override description = 'With `nodeSecrets: {mode: kms}`, upload-secrets leaves each node secret sealed with AWS KMS in /var/lib/berth/sealed. At boot <prefix>unseal.service runs this in the installer image: every NAME.kms is opened with the KMS key that kms.json names, using the machine\'s own AWS credentials (its instance role), and written as .NAME.new (0600) into --to; the node\'s script then renames them into place. All or none: on any failure nothing is left in --to. Prints the names, never a value.'
  static override examples = [
    '<%= config.bin %> node-secrets unseal',
    'docker run --rm --network host -v /var/lib/berth/sealed:/var/lib/berth/sealed:ro -v /etc/berth/secrets:/etc/berth/secrets 10.0.0.2:5000/berth/installer:latest node-secrets unseal',
  ]
  static override enableJsonFlag = true
  static override flags = {
    sealed: Flags.string({description: 'The folder of NAME.kms files and kms.json.', default: SEALED_SECRETS.dir}),
    to: Flags.string({description: 'Where the opened files go (a tmpfs).', default: SECRETS_MOUNT.where}),
  }

  async run(): Promise<{unsealed: string[]}> {
    const {flags} = await this.parse(NodeSecretsUnseal)
    const {unsealInto} = await import('../../src/provision/sealed-secrets.js')
    const {KmsKeyProvider} = await import('../../src/secrets/kms.js')
    const names = await unsealInto(flags.sealed, flags.to, (kms) => new KmsKeyProvider(kms))
    this.log(`Unsealed ${names.join(', ')} into ${flags.to}.`)
    return {unsealed: names}
  }
}
