import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {configFlag} from '../../src/cli/flags.js'
import type {Step} from '../../src/cli/progress.js'
import type {Cluster} from '../../src/config/types.js'
import {UsageError} from '../../src/errors.js'
import {exists} from '../../src/fsx.js'
import type {PushTarget, ServiceImage} from '../../src/images/services.js'

type InstallerResult = {tag: string; latest: string; built: boolean; seconds: number; bytes: number; pushed?: string[]; via?: string}

export default class ImagesBuild extends BerthCommand {
  static override summary = 'Build the berth installer image and the images of cluster.yaml\'s services that carry build, and optionally push them.'
  static override description = `With no SERVICE, builds the installer image and every service of cluster.yaml that has build: {context, dockerfile, args}; with SERVICE names, only those services' images. A service image is tagged <image>:<12 hex digits of a hash over its context, Dockerfile and args> (image names the repository in the cluster's registry, like team/web) and built only when no image of that hash exists. --push sends each to the cluster's registry unless the registry has that tag already.

The installer image holds berth, the build host's Node and docker CLI, and systemctl, on debian:bookworm or (where Docker Hub is out of reach) the base berth builds with debootstrap. It is tagged berth/installer:<version>-<content hash> and berth/installer:latest.`
  static override examples = [
    '<%= config.bin %> images build',
    '<%= config.bin %> images build web api --push -c cluster.yaml',
    '<%= config.bin %> images build --push --registry 10.0.0.2:5000',
    '<%= config.bin %> images build --push --local-cluster local --json',
  ]
  static override enableJsonFlag = true
  static override strict = false
  static override args = {services: Args.string({description: 'Services of cluster.yaml whose images to build (default: the installer and every service with build).'})}
  static override flags = {
    config: configFlag,
    push: Flags.boolean({description: 'Push the images to the registry after the build.'}),
    registry: Flags.string({description: 'Registry HOST:PORT to push to (default: cluster.yaml\'s, or the local cluster\'s with --local-cluster).'}),
    'local-cluster': Flags.string({description: 'Local cluster whose cluster.yaml and registry to use; its first node carries the push when this host\'s dockerd does not trust the registry.'}),
    'state-dir': Flags.string({description: 'Where berth keeps its state.', env: 'BERTH_STATE_DIR'}),
    rebuild: Flags.boolean({description: 'Build the installer image again without the layer cache.'}),
  }

  async run(): Promise<{installer?: InstallerResult; images: ServiceImage[]}> {
    const {argv, flags} = await this.parse(ImagesBuild)
    const names = argv as string[]
    const {cluster, viaNode} = await this.target(flags, names.length > 0)
    const registry = flags.registry ?? cluster?.registry.url
    if (flags.push && !registry) throw new UsageError([{path: '--push', message: 'needs a registry', fix: 'pass --registry HOST:PORT, --local-cluster NAME, or -c cluster.yaml'}])
    const push: PushTarget | undefined = flags.push ? {registry: registry as string, insecure: cluster?.registry.insecure ?? true, viaNode} : undefined
    const {selectBuilds, serviceImageSteps} = await import('../../src/images/services.js')
    const builds = cluster ? selectBuilds(cluster, names) : []
    const images: ServiceImage[] = []
    const result: {installer?: InstallerResult; images: ServiceImage[]} = {images}
    const steps: Step[] = names.length > 0 ? [] : [{title: 'Installer image', run: async () => this.installer(flags, push, result)}]
    steps.push(...serviceImageSteps(builds, push, images))
    const {runSteps} = await import('../../src/cli/progress.js')
    await runSteps(steps, this.jsonEnabled() ? 'silent' : 'auto')
    return result
  }

  /** The cluster (none when no cluster.yaml is there and none was asked for) and the node a local cluster's pushes may go through. */
  private async target(flags: {config: string; 'local-cluster'?: string; 'state-dir'?: string}, needed: boolean): Promise<{cluster?: Cluster; viaNode?: string}> {
    if (flags['local-cluster']) {
      const {openLocal} = await import('../../src/local-cluster/context.js')
      const local = await openLocal({name: flags['local-cluster'], 'state-dir': flags['state-dir']})
      const viaNode = (await local.provider.listNodes(local.record.name)).find((n) => n.state === 'running')?.id
      return {cluster: {...local.cluster, registry: {url: local.record.registry.host, insecure: true}}, viaNode}
    }
    if (!needed && flags.config === 'cluster.yaml' && !(await exists(flags.config))) return {}
    const {loadWithWarnings} = await import('../../src/cli/flags.js')
    return {cluster: (await loadWithWarnings(flags.config)).cluster}
  }

  private async installer(flags: {rebuild?: boolean}, push: PushTarget | undefined, result: {installer?: InstallerResult}): Promise<string> {
    const {buildInstallerImage} = await import('../../src/images/installer.js')
    const image: InstallerResult = await buildInstallerImage({rebuild: flags.rebuild})
    result.installer = image
    const note = `${image.built ? 'built' : 'up to date'}: ${image.tag} (${(image.bytes / 1e6).toFixed(0)} MB) in ${image.seconds.toFixed(1)} s`
    if (!push) return note
    const {pushImage} = await import('../../src/images/push.js')
    const pushed = await pushImage([image.tag, image.latest], push.registry, {viaNode: push.viaNode})
    result.installer = {...image, pushed: pushed.refs, via: pushed.via}
    return `${note}; pushed${pushed.via === 'node' ? ' through a node (this host\'s dockerd does not trust the registry)' : ''}`
  }
}
