import {mkdir, readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {execa} from 'execa'

import {BerthError, UsageError} from '../errors.js'
import {writeFileAtomic} from '../fsx.js'
import {shipped} from '../paths.js'
import {DockerProvider} from './docker-provider.js'
import {type ClusterNetwork, LABEL, type NodeInfo, type NodeSpec} from './provider.js'

interface VagrantNode {
  name: string
  container: string
  ip: string
  seed: string
  coreosUserData: string
  labels: Record<string, string>
}

/**
 * Boots nodes with Vagrant (vagrant/Vagrantfile, its docker provider and the node image)
 * instead of the Docker API; the network, the registry and everything found by label are
 * shared with the Docker provider, so status, ssh and destroy work the same. The
 * Vagrantfile reads the nodes from a JSON file this provider keeps in the cluster's folder.
 */
export class VagrantProvider extends DockerProvider {
  private queue: Promise<unknown> = Promise.resolve()

  constructor(private readonly dir: string, private readonly identity: string) {
    super()
  }

  private get files() {
    const base = path.join(this.dir, 'vagrant')
    return {base, spec: path.join(base, 'cluster.json'), dotfile: path.join(base, '.vagrant')}
  }

  /** Writes the node's NoCloud seed, adds it to the Vagrantfile's description, and runs `vagrant up`. */
  override createNode(network: ClusterNetwork, run: string, spec: NodeSpec): Promise<NodeInfo> {
    return this.oneAtATime(() => this.createOne(network, run, spec))
  }

  /** Runs Vagrant work after every earlier piece of it: creations and removals share the JSON file and Vagrant's index. */
  private oneAtATime<T>(work: () => Promise<T>): Promise<T> {
    const done = this.queue.then(work)
    this.queue = done.catch(() => undefined)
    return done
  }

  private async createOne(network: ClusterNetwork, run: string, spec: NodeSpec): Promise<NodeInfo> {
    const {base, spec: specFile} = this.files
    const seed = path.join(base, 'seeds', spec.machine)
    await mkdir(seed, {recursive: true, mode: 0o700})
    await writeFile(path.join(seed, 'meta-data'), spec.metaData, {mode: 0o600})
    await writeFile(path.join(seed, 'user-data'), spec.userData, {mode: 0o600})
    const container = `berth-${network.cluster}-${spec.machine}`
    const node: VagrantNode = {
      name: spec.machine, container, ip: spec.ip, seed, coreosUserData: path.join(this.dir, 'boot-coreos', `${spec.machine}.yaml`),
      labels: {[LABEL.cluster]: network.cluster, [LABEL.run]: run, [LABEL.role]: 'node', [LABEL.machine]: spec.machine, [LABEL.ip]: spec.ip},
    }
    const description = await readFile(specFile, 'utf8').then((t) => JSON.parse(t) as {nodes: VagrantNode[]}, () => ({nodes: [] as VagrantNode[]}))
    const nodes = [...description.nodes.filter((n) => n.name !== spec.machine), node]
    await writeFileAtomic(specFile, `${JSON.stringify({image: spec.image, network: network.name, identity: this.identity, sshUser: 'root', nodes}, null, 2)}\n`, 0o600)
    await this.vagrant(['up', spec.machine, '--provider', 'docker'])
    const info = (await this.listNodes(network.cluster)).find((n) => n.machine === spec.machine)
    if (!info) throw new BerthError(`vagrant up ${spec.machine} finished but no container carries its labels`)
    return info
  }

  /** Removes the container by id (volumes too), then Vagrant's record of it. */
  override async removeNode(id: string): Promise<void> {
    const machine = (await this.inspectLabels(id))[LABEL.machine]
    await super.removeNode(id)
    if (machine) await this.oneAtATime(() => this.vagrant(['destroy', '-f', machine])).catch(() => undefined)
  }

  private async inspectLabels(id: string): Promise<Record<string, string>> {
    const result = await execa('docker', ['inspect', '--format', '{{json .Config.Labels}}', id], {reject: false})
    return result.exitCode === 0 ? (JSON.parse(result.stdout) as Record<string, string>) : {}
  }

  private async vagrant(args: string[]): Promise<void> {
    const {spec, dotfile} = this.files
    // No checkpoint or box-update calls: Vagrant would otherwise ask HashiCorp's servers for
    // news on every run, and berth talks only to the machines it made.
    const env = {VAGRANT_CWD: shipped('vagrant'), VAGRANT_DOTFILE_PATH: dotfile, BERTH_VAGRANT_CLUSTER: spec, VAGRANT_CHECKPOINT_DISABLE: '1', VAGRANT_BOX_UPDATE_CHECK_DISABLE: '1'}
    const result = await execa('vagrant', args, {env, reject: false})
    if (result.exitCode !== 0) {
      const missing = (result as {code?: string}).code === 'ENOENT'
      if (missing) throw new UsageError([{path: '--provider vagrant', message: 'vagrant is not installed', fix: 'apt-get install vagrant (scripts/setup.sh does), or use the docker provider'}])
      const output = `${String(result.stdout)}\n${String(result.stderr)}`.trim().split('\n').slice(-4).join(' ')
      throw new BerthError(`vagrant ${args.join(' ')} failed (exit ${result.exitCode}): ${output}`)
    }
  }
}
