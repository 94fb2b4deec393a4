import {copyFile} from 'node:fs/promises'
import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {UsageError} from '../../src/errors.js'
import {exists} from '../../src/fsx.js'
import {shipped} from '../../src/paths.js'

export default class ClusterInit extends BerthCommand {
  static override summary = 'Write a commented example cluster.yaml.'
  static override description = 'The example names every key with a comment; edit it, then run `berth cluster validate`.'
  static override examples = ['<%= config.bin %> cluster init', '<%= config.bin %> cluster init -c prod.yaml --force']
  static override flags = {
    config: Flags.string({char: 'c', description: 'File to write.', default: 'cluster.yaml'}),
    force: Flags.boolean({description: 'Overwrite an existing file.'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(ClusterInit)
    if (await exists(flags.config) && !flags.force) throw new UsageError([{file: flags.config, message: 'already exists', fix: 'pass --force to overwrite it'}])
    await copyFile(shipped('schema', 'cluster.example.yaml'), flags.config)
    this.log(`Wrote ${flags.config}. Edit it, then run: berth cluster validate -c ${flags.config}`)
  }
}
