import {readFile} from 'node:fs/promises'
import path from 'node:path'

import type {Step} from '../cli/progress.js'
import type {InstalledRecord} from '../layout/records.js'
import {BerthError, UsageError} from '../errors.js'
import {RecordStore} from '../etcd/records.js'
import {agentOptionsFor, agentUnit, agentUnitName, type NodeFile} from './agent-unit.js'
import type {NodeClusterFile} from '../firstboot/cluster-json.js'
import {installedVersion, pullImage, serviceImages, writeIfChanged} from './install-ops.js'
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

/** The install as steps, plus the record of a failure to write when a step throws. */
export function installSteps(request: InstallRequest, result: Partial<InstallResult> & {changed: string[]}): {steps: Step[]; recordFailure: (error: Error, step: string) => Promise<void>; close: () => void} {
  let node: NodeFile
  let cluster: NodeClusterFile
  let store: RecordStore | undefined
  let agentSince = 0
  const records = async (): Promise<RecordStore> => (store ??= await RecordStore.connect(node.etcdEndpoints))

  const steps: Step[] = [{
    title: 'Read node.json and cluster.json',
    run: async () => {
      node = await readJson<NodeFile>(request.nodeFile, 'the first-boot file writes it')
      cluster = await readJson<NodeClusterFile>(request.clusterFile, '`berth cluster upload-secrets` writes it')
      result.machine = node.machine
      result.image = request.image ?? cluster.installerImage ?? node.installerImage
      return `${node.machine} (${node.role}), image ${result.image}`
    },
  }, {
    title: 'Put the cluster\'s initial services into etcd where absent',
    run: async () => {
      // Pinned as a deploy pins them; a tag that does not resolve yet is stored as written (the pull below says why).
      const [{pinSpec}, {nodeDigestLookup}] = await Promise.all([import('../images/pin.js'), import('../agent/wiring/registry.js')])
      const lookup = nodeDigestLookup()
      const unpinned: string[] = []
      const pin = (name: string, spec: ServiceSpec): Promise<ServiceSpec> => pinSpec(spec, lookup, node.registry).catch((error: Error) => {
        unpinned.push(`${name} (${error.message})`)
        return spec
      })
      result.createdServices = await seedServices(await records(), cluster.services, cluster.etcdPrefix, pin)
      const created = result.createdServices.length > 0 ? `created ${result.createdServices.join(', ')}` : 'etcd has them all'
      return unpinned.length > 0 ? `${created}; not pinned: ${unpinned.join('; ')}` : created
    },
  }, {
    title: 'Pull the agent image and the images of this machine\'s services',
    run: async () => {
      const images = [result.image!, ...(await serviceImages(node, cluster))]
      result.pulled = images
      // A few at a time: the node's dockerd and the registry share one link.
      await mapBounded(images, 3, (ref) => pullImage(ref))
      result.version = await installedVersion(result.image!)
      return `${images.length} images, version ${result.version}`
    },
  }, {
    title: 'Write the agent\'s options and unit, and start it',
    run: async () => {
      const options = `${JSON.stringify(agentOptionsFor(node, cluster), null, 2)}\n`
      if (await writeIfChanged(path.join(request.etcDir, 'agent.json'), options, 0o644)) result.changed.push('agent.json')
      const unit = agentUnitName(cluster.unitPrefix)
      const text = agentUnit({prefix: cluster.unitPrefix, image: result.image!, version: result.version!, machine: node.machine})
      const unitChanged = await writeIfChanged(path.join(request.unitDir, unit), text, 0o644)
      agentSince = Date.now()
      if (unitChanged) {
        result.changed.push(unit)
        await request.systemctl(['daemon-reload'])
      }
      await request.systemctl(['enable', unit])
      // Options or image changed: restart; else start, which leaves a running agent alone.
      await request.systemctl([result.changed.length > 0 ? 'restart' : 'start', unit])
      if (result.changed.length === 0) agentSince = 0
      return result.changed.length > 0 ? `${result.changed.join(', ')} changed: ${unit} restarted` : 'unchanged'
    },
  }, {
    title: 'Wait for the agent\'s first pass',
    run: async () => {
      const agent = await pollUntil(async () => {
        const {agent} = await readMachine(await records(), node.machine, cluster.etcdPrefix)
        // The agent this install started: its version, and a pass begun after its (re)start.
        return agent && agent.version === result.version && Date.parse(agent.lastPass) >= agentSince ? done(agent) : notYet(agent)
      }, {
        timeoutMs: request.agentWaitMs,
        intervalMs: 250,
        retryOn: () => false,
        onTimeout: () => new BerthError(`the agent reported no pass within ${request.agentWaitMs / 1000} s; see journalctl -u ${agentUnitName(cluster.unitPrefix)}`),
      })
      result.agent = {converged: agent.converged, services: agent.services}
      return agent.converged ? 'converged' : `not converged yet: ${Object.entries(agent.errors).map(([k, v]) => `${k}: ${v}`).join('; ')}`
    },
  }, {
    title: 'Record the installed version in etcd',
    run: async () => {
      const record: InstalledRecord = {version: result.version!, image: result.image!, result: 'ok', at: new Date().toISOString()}
      await putInstalled(await records(), node.machine, record, cluster.etcdPrefix)
      return result.version
    },
  }]

  const recordFailure = async (error: Error, step: string): Promise<void> => {
    // Without node.json there is no machine to record under, and without etcd no place.
    if (!node || !cluster) return
    const record: InstalledRecord = {version: result.version ?? 'unknown', image: result.image ?? cluster.installerImage, result: 'failed', error: `${step}: ${error.message}`, at: new Date().toISOString()}
    await putInstalled(await records(), node.machine, record, cluster.etcdPrefix).catch(() => undefined)
  }
  return {steps, recordFailure, close: () => store?.close()}
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
