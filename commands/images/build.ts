import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {UsageError} from '../../src/errors.js'

export default class ImagesBuild extends BerthCommand {
  static override summary = 'Build the berth agent/installer image, and optionally push it to the cluster\'s registry.'
  static override description = 'The image holds berth, the build host\'s Node and docker CLI, and systemctl, on debian:bookworm or (where Docker Hub is out of reach) the base berth builds with debootstrap. It is tagged berth/installer:<version>-<content hash> and berth/installer:latest, and built only when no image of the same content exists.'
  static override examples = [
    '<%= config.bin %> images build',
    '<%= config.bin %> images build --push --registry 10.0.0.2:5000',
    '<%= config.bin %> images build --push --local-cluster local',
  ]
  static override enableJsonFlag = true
  static override flags = {
    push: Flags.boolean({description: 'Push both tags to the registry after the build.'}),
    registry: Flags.string({description: 'Registry HOST:PORT to push to (default: the local cluster\'s, with --local-cluster).'}),
    'local-cluster': Flags.string({description: 'Local cluster whose registry to push to; its first node carries the push when this host\'s dockerd does not trust the registry.'}),
    'state-dir': Flags.string({description: 'Where berth keeps its state.', env: 'BERTH_STATE_DIR'}),
    rebuild: Flags.boolean({description: 'Build again without the layer cache.'}),
  }

  async run(): Promise<{tag: string; latest: string; built: boolean; seconds: number; bytes: number; pushed?: string[]; via?: string}> {
    const {flags} = await this.parse(ImagesBuild)
    if (flags.push && !flags.registry && !flags['local-cluster']) throw new UsageError([{path: '--push', message: 'needs a registry', fix: 'pass --registry HOST:PORT or --local-cluster NAME'}])
    const {buildInstallerImage} = await import('../../src/images/installer.js')
    const quiet = this.jsonEnabled()
    const image = await buildInstallerImage({rebuild: flags.rebuild, onProgress: (line) => quiet || this.log(line)})
    this.log(`${image.built ? 'Built' : 'Up to date:'} ${image.tag} (${(image.bytes / 1e6).toFixed(0)} MB) in ${image.seconds.toFixed(1)} s`)
    if (!flags.push) return image
    let registry = flags.registry
    let viaNode: string | undefined
    if (flags['local-cluster']) {
      const {openLocal} = await import('../../src/local-cluster/context.js')
      const local = await openLocal({name: flags['local-cluster'], 'state-dir': flags['state-dir']})
      registry ??= local.record.registry.host
      viaNode = (await local.provider.listNodes(local.record.name)).find((n) => n.state === 'running')?.id
    }
    const {pushImage} = await import('../../src/images/push.js')
    const pushed = await pushImage([image.tag, image.latest], registry as string, {viaNode, progress: (line) => quiet || this.log(line)})
    this.log(`Pushed ${pushed.refs.join(', ')}${pushed.via === 'node' ? ' (through a node: this host\'s dockerd does not trust the registry)' : ''}`)
    return {...image, pushed: pushed.refs, via: pushed.via}
  }
}
