import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'

export default class LocalClusterBuildImage extends BerthCommand {
  static override summary = 'Build the node image (systemd, dockerd, sshd, etcd, cloud-init) and the registry image.'
  static override description = 'From debian:bookworm where dockerd has it, else from a debootstrap root file system. Images are tagged by the hash of their inputs, so an unchanged build is skipped.'
  static override examples = ['<%= config.bin %> local-cluster build-image', '<%= config.bin %> local-cluster build-image --rebuild --json']
  static override enableJsonFlag = true
  static override flags = {
    rebuild: Flags.boolean({description: 'Build again even when the inputs are unchanged.'}),
    'pull-base': Flags.boolean({description: 'Try pulling debian:bookworm from Docker Hub (for 20 s) before building a base with debootstrap.'}),
  }

  async run(): Promise<{node: {tag: string; built: boolean; seconds: number}; registry: {tag: string; built: boolean; seconds: number}}> {
    const {flags} = await this.parse(LocalClusterBuildImage)
    const {ensureNodeImage, ensureRegistryImage} = await import('../../src/local-cluster/image.js')
    const onProgress = (line: string) => this.jsonEnabled() || process.stderr.write(`${line}\n`)
    const node = await ensureNodeImage({rebuild: flags.rebuild, pullTimeoutMs: flags['pull-base'] ? 20_000 : 0, onProgress})
    const registry = await ensureRegistryImage({rebuild: flags.rebuild, onProgress})
    for (const image of [node, registry]) this.log(`${image.tag}: ${image.built ? `built in ${image.seconds.toFixed(1)} s` : 'up to date'}`)
    return {node, registry}
  }
}
