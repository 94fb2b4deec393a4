import {readFile} from 'node:fs/promises'
import path from 'node:path'

import type {Step} from '../cli/progress.js'
import {type InstalledRecord, machineKeys, serviceKey, servicesDir} from '../layout/records.js'
import {BerthError, UsageError} from '../errors.js'
import type {RecordStore} from '../etcd/records.js'
import {Chain} from '../cli/chain.js'
import {agentOptionsFor, agentUnit, agentUnitName, type NodeFile} from './agent-unit.js'
import type {NodeClusterFile} from '../firstboot/cluster-json.js'
import {installedVersion, serviceImages, writeIfChanged} from './install-ops.js'
import {pullImage} from '../agent/node/node-ops.js'
import {connectDocker} from '../docker.js'
import {mapBounded} from './pool.js'
import {done, notYet, pollUntil} from '../poll.js'
import {putInstalled, readMachine, seedServices} from './records-etcd.js'
import type {ServiceSpec} from '../spec/service.js'

/**
 * `berth install`, the installer the path unit starts once node secrets arrive (and that
 * runs by hand too): a list of small steps over the node's two files, etcd, dockerd and
 * systemd. Every step is level-based, so a second run finds nothing to change: files are
 * written only when their bytes differ, and the agent restarts only when its unit changed.
 */

/** Where the installer reads and writes; the defaults are the node's. */
export interface InstallRequest {
  nodeFile: string
  clusterFile: string
  /** Installs this image instead of the one cluster.json pins. */
  image?: string
  etcDir: string
  unitDir: string
  /** How long to wait for the agent's first pass. */
  agentWaitMs: number
  systemctl: (args: string[]) => Promise<void>
}

/** What the installer works from: the node's two files, read before any step. */
export interface InstallInputs {
  node: NodeFile
  cluster: NodeClusterFile
  /** The agent image it installs: `--image`, else cluster.json's, else node.json's. */
  image: string
}

/** What an install did. */
export interface InstallResult {
  machine: string
  image: string
  version: string
  changed: string[]
  createdServices: string[]
  pulled: string[]
  agent?: {converged: boolean; services: Record<string, string>}
}

/** Reads node.json and cluster.json; a missing or broken one is a usage error naming the file and who writes it. */
export async function readInstallInputs(request: Pick<InstallRequest, 'nodeFile' | 'clusterFile' | 'image'>): Promise<InstallInputs> {
  const node = await readJson<NodeFile>(request.nodeFile, 'the first-boot file writes it')
  const cluster = await readJson<NodeClusterFile>(request.clusterFile, '`berth cluster upload-secrets` writes it')
  return {node, cluster, image: request.image ?? cluster.installerImage ?? node.installerImage}
}

/**
 * The install as a chain of steps over the node's files and the process's one etcd client
 * (`records`, made by the command from node.json's endpoints), plus the record of a
 * failure to write when a step throws. `result` is what the install did, once it ran.
 */
export function installSteps(request: InstallRequest & InstallInputs & {records: RecordStore}): {steps: Step[]; result: () => InstallResult; recordFailure: (error: Error, step: string) => Promise<void>} {
  const {node, cluster, image, records} = request
  const unit = agentUnitName(cluster.unitPrefix)
  const keys = machineKeys(node.machine, cluster.etcdPrefix)
  const agentJson = path.join(request.etcDir, 'agent.json')
  const unitFile = path.join(request.unitDir, unit)
  const plan = new Chain({machine: node.machine, image})
    .step('Put the cluster\'s initial services into etcd where absent', async () => {
      // Pinned as a deploy pins them; a tag that does not resolve yet is stored as written (the pull below says why).
      const [{pinSpec}, {nodeDigestLookup}] = await Promise.all([import('../images/pin.js'), import('../agent/wiring/registry.js')])
      const lookup = nodeDigestLookup()
      const unpinned: string[] = []
      const pin = (name: string, spec: ServiceSpec): Promise<ServiceSpec> => pinSpec(spec, lookup, node.registry).catch((error: Error) => {
        unpinned.push(`${name} (${error.message})`)
        return spec
      })
      const createdServices = await seedServices(records, cluster.services, cluster.etcdPrefix, pin)
      const created = createdServices.length > 0 ? `created ${createdServices.join(', ')}` : 'etcd has them all'
      return {note: unpinned.length > 0 ? `${created}; not pinned: ${unpinned.join('; ')}` : created, createdServices}
    }, async () => {
      const names = Object.keys(cluster.services).sort()
      const present = new Set((await Promise.all(names.map(async (name) => ((await records.get(serviceKey(name, cluster.etcdPrefix))) === undefined ? [] : [name])))).flat())
      const absent = names.filter((name) => !present.has(name))
      if (names.length === 0) return 'cluster.json names no services: nothing to put'
      return `would put ${absent.length > 0 ? absent.join(', ') : 'nothing'} under ${servicesDir(cluster.etcdPrefix)}${present.size > 0 ? ` (${[...present].join(', ')} there already: left as they are)` : ''}`
    })
    .step('Pull the agent image and the images of this machine\'s services', async () => {
      const pulled = [image, ...(await serviceImages(node, cluster, records))]
      // A few at a time: the node's dockerd and the registry share one link. One dockerd client for them all.
      const docker = await connectDocker()
      await mapBounded(pulled, 3, (ref) => pullImage(docker, ref))
      const version = await installedVersion(image)
      return {note: `${pulled.length} images, version ${version}`, pulled, version}
    }, async () => `would pull ${[image, ...(await serviceImages(node, cluster, records))].join(', ')} (3 at a time)`)
    .step('Write the agent\'s options and unit, and start it', async ({version}) => {
      const changed: string[] = []
      if (await writeIfChanged(agentJson, `${JSON.stringify(agentOptionsFor(node, cluster), null, 2)}\n`, 0o644)) changed.push('agent.json')
      const text = agentUnit({prefix: cluster.unitPrefix, image, version, machine: node.machine})
      const unitChanged = await writeIfChanged(unitFile, text, 0o644)
      const startedAt = Date.now()
      if (unitChanged) {
        changed.push(unit)
        await request.systemctl(['daemon-reload'])
      }
      await request.systemctl(['enable', unit])
      // Options or image changed: restart; else start, which leaves a running agent alone.
      await request.systemctl([changed.length > 0 ? 'restart' : 'start', unit])
      return {note: changed.length > 0 ? `${changed.join(', ')} changed: ${unit} restarted` : 'unchanged', changed, agentSince: changed.length > 0 ? startedAt : 0}
    }, async () => `would write ${agentJson} and ${unitFile} (agent image ${image}) where their bytes differ, then \`systemctl daemon-reload\` if the unit changed, \`systemctl enable ${unit}\` and restart it if either changed (else start it)`)
    .step('Wait for the agent\'s first pass', async ({version, agentSince}) => {
      const agent = await pollUntil(async () => {
        const {agent} = await readMachine(records, node.machine, cluster.etcdPrefix)
        // The agent this install started: its version, and a pass begun after its (re)start.
        return agent && agent.version === version && Date.parse(agent.lastPass) >= agentSince ? done(agent) : notYet(agent)
      }, {
        timeoutMs: request.agentWaitMs,
        intervalMs: 250,
        retryOn: () => false,
        onTimeout: () => new BerthError(`the agent reported no pass within ${request.agentWaitMs / 1000} s; see journalctl -u ${unit}`),
      })
      return {
        note: agent.converged ? 'converged' : `not converged yet: ${Object.entries(agent.errors).map(([k, v]) => `${k}: ${v}`).join('; ')}`,
        agent: {converged: agent.converged, services: agent.services},
      }
    }, async () => `would wait up to ${request.agentWaitMs / 1000} s for ${unit} to report a pass of the installed version under ${keys.agent}`)
    .step('Record the installed version in etcd', async ({version}) => {
      const record: InstalledRecord = {version, image, result: 'ok', at: new Date().toISOString()}
      await putInstalled(records, node.machine, record, cluster.etcdPrefix)
      return {note: version}
    }, async () => `would write {version, image: ${image}, result: ok} to ${keys.installed}`)

  const recordFailure = async (error: Error, step: string): Promise<void> => {
    const record: InstalledRecord = {version: plan.handed().version ?? 'unknown', image, result: 'failed', error: `${step}: ${error.message}`, at: new Date().toISOString()}
    await putInstalled(records, node.machine, record, cluster.etcdPrefix).catch(() => undefined)
  }
  const result = (): InstallResult => {
    const {machine, version, changed, createdServices, pulled, agent} = plan.result()
    return {machine, image, version, changed, createdServices, pulled, agent}
  }
  return {steps: plan.steps, result, recordFailure}
}

async function readJson<T>(file: string, fix: string): Promise<T> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError([{file, message: `cannot read it (${error.code ?? error.message})`, fix}])
  })
  try {
    return JSON.parse(text) as T
  } catch (error) {
    throw new UsageError([{file, message: `is not JSON: ${(error as Error).message}`, fix}])
  }
}
