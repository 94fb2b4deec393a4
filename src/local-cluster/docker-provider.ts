import {PassThrough} from 'node:stream'

import type Dockerode from 'dockerode'

import {BerthError} from '../errors.js'
import {connectDocker, isNotFound} from '../docker.js'
import type {PtySize, RemoteProcess} from '../machine/shell.js'
import type {ClusterNetwork, ExecResult, NodeInfo, NodeProvider, NodeSpec, RegistryInfo} from './provider.js'
import {LABEL} from './provider.js'
import {addressIn, freeSubnets, hostRoutes} from './subnet.js'
import {parentDirs, tar} from './tar.js'

const SEED_DIR = 'var/lib/cloud/seed/nocloud'
const REGISTRY_PORT = 5000

/**
 * Runs each node as an unprivileged container with systemd as PID 1, using the flags
 * measured in TESTING.md (privileged containers cannot start on these machines).
 */
export class DockerProvider implements NodeProvider {
  private connection?: Promise<Dockerode>

  private docker(): Promise<Dockerode> {
    this.connection ??= connectDocker()
    return this.connection
  }

  /** Creates `berth-<cluster>`, trying free /24s until dockerd accepts one (another run may race us). */
  async createNetwork(cluster: string, run: string): Promise<ClusterNetwork> {
    const docker = await this.docker()
    const existing = await docker.listNetworks()
    const inUse = existing.flatMap((n) => (n.IPAM?.Config ?? []).map((c) => c.Subnet ?? ''))
    const name = `berth-${cluster}`
    for (const subnet of freeSubnets([...inUse, ...(await hostRoutes())]).slice(0, 8)) {
      const gateway = addressIn(subnet, 1)
      try {
        const network = await docker.createNetwork({
          Name: name,
          Driver: 'bridge',
          CheckDuplicate: true,
          IPAM: {Driver: 'default', Config: [{Subnet: subnet, Gateway: gateway}]},
          Labels: {[LABEL.cluster]: cluster, [LABEL.run]: run},
        })
        return {id: network.id, name, cluster, subnet, gateway}
      } catch (error) {
        if (!/overlaps/i.test((error as Error).message)) throw error
      }
    }
    throw new BerthError(`no free subnet in 10.210.0.0/16 for cluster ${cluster}: remove unused Docker networks`)
  }

  /** The networks labelled with the cluster's name. */
  async listNetworks(cluster: string): Promise<ClusterNetwork[]> {
    const docker = await this.docker()
    const networks = await docker.listNetworks({filters: {label: [`${LABEL.cluster}=${cluster}`]}})
    return networks.map((n) => {
      const config = n.IPAM?.Config?.[0]
      return {id: n.Id, name: n.Name, cluster, subnet: config?.Subnet ?? '', gateway: config?.Gateway ?? ''}
    })
  }

  /** Removes a network by id; one already gone is fine. */
  async removeNetwork(id: string): Promise<void> {
    const docker = await this.docker()
    await docker.getNetwork(id).remove().catch(ignoreNotFound)
  }

  /** Creates the node's container, puts its NoCloud seed in, and starts it. */
  async createNode(network: ClusterNetwork, run: string, spec: NodeSpec): Promise<NodeInfo> {
    const docker = await this.docker()
    const labels = {...this.labels(network, run, 'node'), [LABEL.machine]: spec.machine, [LABEL.ip]: spec.ip}
    const container = await docker.createContainer({
      name: `berth-${network.cluster}-${spec.machine}`,
      Hostname: spec.machine,
      Image: spec.image,
      Labels: labels,
      // The inner dockerd needs a real file system (overlay2 does not stack on overlay2).
      Volumes: {'/var/lib/docker': {}},
      HostConfig: nodeHostConfig(network.name),
      NetworkingConfig: {EndpointsConfig: {[network.name]: {IPAMConfig: {IPv4Address: spec.ip}}}},
    })
    try {
      const files = [{name: 'meta-data', content: spec.metaData}, {name: 'user-data', content: spec.userData}]
      const archive = tar([
        ...parentDirs(`${SEED_DIR}/x`).map((name) => ({name, mode: 0o755})),
        ...files.map((f) => ({name: `${SEED_DIR}/${f.name}`, mode: 0o600, content: f.content})),
      ])
      await container.putArchive(archive, {path: '/'})
      await container.start()
    } catch (error) {
      await container.remove({force: true, v: true}).catch(ignoreNotFound)
      throw error
    }
    return {id: container.id, machine: spec.machine, cluster: network.cluster, ip: spec.ip, state: 'running'}
  }

  /** The cluster's nodes, found by label, in machine-name order. */
  async listNodes(cluster: string): Promise<NodeInfo[]> {
    const docker = await this.docker()
    const filters = {label: [`${LABEL.cluster}=${cluster}`, `${LABEL.role}=node`]}
    const containers = await docker.listContainers({all: true, filters})
    return containers
      .map((c) => ({id: c.Id, machine: c.Labels[LABEL.machine] ?? '', cluster, ip: c.Labels[LABEL.ip] ?? '', state: c.State}))
      .sort((a, b) => a.machine.localeCompare(b.machine))
  }

  /** Restarts a node; its static IP keeps etcd's peer URLs valid. */
  async restartNode(id: string): Promise<void> {
    const docker = await this.docker()
    await docker.getContainer(id).restart({t: 20})
  }

  /** Removes a node and its anonymous volume (the inner Docker's storage). */
  async removeNode(id: string): Promise<void> {
    const docker = await this.docker()
    await docker.getContainer(id).remove({force: true, v: true}).catch(ignoreNotFound)
  }

  /** Runs a command inside a node, as `docker exec` does, and collects its output; `stdin` is written, then closed. */
  async exec(id: string, argv: string[], options: {stdin?: string | Buffer} = {}): Promise<ExecResult> {
    const docker = await this.docker()
    const withStdin = options.stdin !== undefined
    const exec = await docker.getContainer(id).exec({Cmd: argv, AttachStdout: true, AttachStderr: true, AttachStdin: withStdin})
    const stream = await exec.start({hijack: true, stdin: withStdin})
    const stdout = new PassThrough()
    const stderr = new PassThrough()
    const out: Buffer[] = []
    const err: Buffer[] = []
    stdout.on('data', (chunk: Buffer) => out.push(chunk))
    stderr.on('data', (chunk: Buffer) => err.push(chunk))
    docker.modem.demuxStream(stream, stdout, stderr)
    const ended = new Promise<void>((resolve, reject) => {
      stream.on('end', resolve)
      stream.on('error', reject)
    })
    // Half-closing the hijacked connection is the end of the command's stdin.
    if (withStdin) stream.end(options.stdin)
    await ended
    const {ExitCode} = await exec.inspect()
    return {code: ExitCode ?? null, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString()}
  }

  /**
   * Starts a command inside a node with stdin open and its output streaming, as `docker
   * exec -i [-t]` does. Without a pty, stdout and stderr come apart; with one, both come on
   * stdout. `exit` resolves with the exit code once the output has ended; ending stdin is
   * the end of the command's input.
   */
  async start(id: string, argv: string[], options: {pty?: PtySize} = {}): Promise<RemoteProcess> {
    const docker = await this.docker()
    const {pty} = options
    const exec = await docker.getContainer(id).exec({
      Cmd: argv, AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: pty !== undefined,
      ...(pty ? {Env: [`TERM=${pty.term ?? 'xterm-256color'}`]} : {}),
    })
    const stream = await exec.start({hijack: true, stdin: true, Tty: pty !== undefined})
    const stdout = new PassThrough()
    const stderr = new PassThrough()
    if (pty) stream.pipe(stdout)
    else docker.modem.demuxStream(stream, stdout, stderr)
    const exit = new Promise<{code: number | null; signal?: string}>((resolve, reject) => {
      let ended = false
      stream.on('end', () => {
        ended = true
        stdout.end()
        stderr.end()
        exec.inspect().then((info) => resolve({code: info.ExitCode ?? null}), reject)
      })
      stream.on('error', reject)
      stream.on('close', () => {
        if (!ended) reject(new BerthError(`node ${id.slice(0, 12)}: \`${argv.join(' ')}\` ended without an exit status (docker exec cut off)`))
      })
    })
    exit.catch(() => undefined) // a caller that only streams must not crash on a cut-off exec
    const resize = (size: PtySize) => void exec.resize({h: size.rows, w: size.cols}).catch(() => undefined)
    return {stdout, stderr, stdin: stream, exit, resize}
  }

  /** Runs the registry at `.2` of the cluster's subnet, its storage in a labelled volume. */
  async startRegistry(network: ClusterNetwork, run: string, image: string): Promise<RegistryInfo> {
    const docker = await this.docker()
    const labels = this.labels(network, run, 'registry')
    const name = `berth-${network.cluster}-registry`
    const ip = addressIn(network.subnet, 2)
    await docker.createVolume({Name: name, Labels: labels})
    const container = await docker.createContainer({
      name,
      Image: image,
      Labels: labels,
      HostConfig: {
        NetworkMode: network.name,
        Mounts: [{Type: 'volume', Source: name, Target: '/var/lib/docker-registry'}],
        // Where the notifying config and its token go: memory only (src/local-cluster/registry-notifications.ts).
        Tmpfs: {'/run/registry': 'mode=0700'},
        RestartPolicy: {Name: 'unless-stopped'},
      },
      NetworkingConfig: {EndpointsConfig: {[network.name]: {IPAMConfig: {IPv4Address: ip}}}},
    })
    const registry = {id: container.id, ip, port: REGISTRY_PORT, host: `${ip}:${REGISTRY_PORT}`, volume: name}
    await container.start().catch(async (error: unknown) => {
      await this.stopRegistry(registry)
      throw error
    })
    return registry
  }

  /** Removes the registry's container, then its volume. */
  async stopRegistry(registry: Pick<RegistryInfo, 'id' | 'volume'>): Promise<void> {
    const docker = await this.docker()
    await docker.getContainer(registry.id).remove({force: true, v: true}).catch(ignoreNotFound)
    await docker.getVolume(registry.volume).remove().catch(ignoreNotFound)
  }

  private labels(network: ClusterNetwork, run: string, role: string): Record<string, string> {
    return {[LABEL.cluster]: network.cluster, [LABEL.run]: run, [LABEL.role]: role}
  }
}

/**
 * TESTING.md's run flags in API form. `systempaths=unconfined` is a docker CLI option;
 * the API spells it as empty masked and read-only path lists.
 */
function nodeHostConfig(network: string): Dockerode.HostConfig {
  const config: Dockerode.HostConfig & {CgroupnsMode: string} = {
    CapAdd: ['ALL'],
    CapDrop: ['SYS_RESOURCE'],
    SecurityOpt: ['seccomp=unconfined', 'apparmor=unconfined'],
    MaskedPaths: [],
    ReadonlyPaths: [],
    CgroupnsMode: 'private',
    Tmpfs: {'/run': '', '/run/lock': '', '/tmp': ''},
    NetworkMode: network,
  }
  return config
}

function ignoreNotFound(error: unknown): void {
  if (!isNotFound(error)) throw error
}
