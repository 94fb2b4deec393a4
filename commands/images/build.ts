import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {configFlag} from '../../src/cli/flags.js'
import type {Cluster} from '../../src/config/types.js'
import {UsageError} from '../../src/errors.js'
import {exists} from '../../src/fsx.js'
import type {ImagesDone} from '../../src/images/plan.js'
import type {PushTarget} from '../../src/images/services.js'

export default class ImagesBuild extends BerthCommand {
  static override summary = 'Build the berth installer image and the images of cluster.yaml\'s services that carry build, and optionally push them.'
  static override description = `With no SERVICE, builds the installer image and every service of cluster.yaml that has build: {context, dockerfile, args}; with SERVICE names, only those services' images. A service image is tagged <image>:<12 hex digits of a hash over its context, Dockerfile and args> (image names the repository in the cluster's registry, like team/web) and built only when no image of that hash exists. --push sends each to the cluster's registry unless the registry has that tag already.

The installer image holds berth, the build host's Node and docker CLI, and systemctl, on debian:bookworm or (where Docker Hub is out of reach) the base berth builds with debootstrap. It is tagged berth/installer:<version>-<content hash> and berth/installer:latest.`
  static override examples = [
    '<%= config.bin %> images build',
    '<%= config.bin %> images build web api --push -c cluster.yaml',
    '<%= config.bin %> images build --push --registry 10.0.0.2:5000',
    '<%= config.bin %> images build --push --local-cluster local --json',
    '<%= config.bin %> images build web --push --dry-run',
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
    'dry-run': Flags.boolean({description: 'Print what each step would build and push (tags, contexts, Dockerfiles, args, registry) and change nothing.'}),
  }

  async run(): Promise<ImagesDone | {plan: string[]}> {
    const {argv, flags} = await this.parse(ImagesBuild)
    const names = argv as string[]
    const {cluster, viaNode} = await this.target(flags, names.length > 0)
    const registry = flags.registry ?? cluster?.registry.url
    if (flags.push && !registry) throw new UsageError([{path: '--push', message: 'needs a registry', fix: 'pass --registry HOST:PORT, --local-cluster NAME, or -c cluster.yaml'}])
    const push: PushTarget | undefined = flags.push ? {registry: registry as string, insecure: cluster?.registry.insecure ?? true, viaNode} : undefined
    const [{selectBuilds}, {imagesPlan}, {planOrRun}] = await Promise.all([
      import('../../src/images/services.js'), import('../../src/images/plan.js'), import('../../src/cli/progress.js'),
    ])
    const plan = imagesPlan({installer: names.length === 0, rebuild: flags.rebuild, builds: cluster ? selectBuilds(cluster, names) : [], push})
    const dry = await planOrRun(plan, {dryRun: flags['dry-run'], mode: this.jsonEnabled() ? 'silent' : 'auto', log: (t) => this.log(t)})
    return dry ?? plan.result()
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
}
