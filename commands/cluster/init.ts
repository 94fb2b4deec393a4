import {readFile} from 'node:fs/promises'
import path from 'node:path'
import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {UsageError} from '../../src/errors.js'
import {exists, writeFileAtomic} from '../../src/fsx.js'
import {shipped} from '../../src/paths.js'

export default class ClusterInit extends BerthCommand {
  static override summary = 'Write a commented example cluster.yaml.'
  static override description = 'The example names every key with a comment; edit it, then run `berth cluster validate`. Its first line points editors (yaml-language-server) at the schema of the berth that wrote it, by absolute path. It names provisioner.pub, beside the file, as the key berth logs in with: make that key (the command prints how) or point ssh.authorizedKeyFiles at your own, such as ~/.ssh/id_ed25519.pub.'
  static override examples = ['<%= config.bin %> cluster init', '<%= config.bin %> cluster init -c prod.yaml --force']
  static override flags = {
    config: Flags.string({char: 'c', description: 'File to write.', default: 'cluster.yaml'}),
    force: Flags.boolean({description: 'Overwrite an existing file.'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(ClusterInit)
    if (await exists(flags.config) && !flags.force) throw new UsageError([{file: flags.config, message: 'already exists', fix: 'pass --force to overwrite it'}])
    await writeFileAtomic(flags.config, withSchemaLine(await readFile(shipped('schema', 'cluster.example.yaml'), 'utf8')))
    const key = path.join(path.dirname(flags.config), 'provisioner')
    this.log(`Wrote ${flags.config}. It names ${key}.pub as the key berth logs in with: make it with \`ssh-keygen -t ed25519 -N '' -f ${key}\` (or point ssh/authorizedKeyFiles at your own .pub file). Then edit the machines and run: berth cluster validate -c ${flags.config}`)
  }
}

/**
 * The example's first line names the schema beside it in berth's tree; a user's
 * cluster.yaml lives elsewhere, so it names this berth's schema by absolute path.
 */
function withSchemaLine(example: string): string {
  return example.replace(/^# yaml-language-server: \$schema=.*$/m, `# yaml-language-server: $schema=${shipped('schema', 'cluster.schema.json')}`)
}
