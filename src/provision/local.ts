import {readFile} from 'node:fs/promises'

import type {Step} from '../cli/progress.js'
import {loadClusterFile} from '../config/load.js'
import type {Cluster} from '../config/types.js'
import {BerthError} from '../errors.js'
import {done, notYet, pollUntil} from '../poll.js'
import type {LocalCluster} from '../local-cluster/context.js'
import {addServiceToFile} from './cluster-file.js'
import {EXAMPLE_CONTEXT, EXAMPLE_IMAGE, buildExampleImage} from './example-image.js'
import {waitForInstalled} from './wait.js'
import {uploadSecrets, type MachineUpload} from './upload.js'

/**
 * `local-cluster provision`: the whole path from bare nodes to a running service on an
 * existing local cluster, through the same commands a real cluster uses: build the
 * installer and example images, push them to the cluster's registry, add the example
 * service to cluster.yaml, upload secrets (which starts the installer on every node), and
 * wait until every node is installed, its agent converged and the example answering.
 */

/** What a provision did and how long the part after the images took. */
export interface ProvisionResult {
  installerImage: string
  uploads: MachineUpload[]
  urls: string[]
  /** From the push of built images to the example answering on every node. */
  secondsFromBuiltImage: number
}

/** The example service as the local cluster runs it. */
export async function exampleService(): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(`${EXAMPLE_CONTEXT}/service.json`, 'utf8')) as Record<string, unknown>
}

/** The steps; `result` fills in as they run. */
export function provisionSteps(local: LocalCluster, options: {timeoutMs: number; parallel: number}, result: Partial<ProvisionResult>): Step[] {
  const registry = local.record.registry.host
  let installer = {tag: '', latest: ''}
  let started = 0
  let uploadedSince = 0
  let cluster: Cluster = local.cluster
  return [{
    title: 'Build the installer image',
    run: async () => {
      const {buildInstallerImage} = await import('../images/installer.js')
      const image = await buildInstallerImage()
      installer = image
      return `${image.built ? 'built' : 'up to date'}: ${image.tag}`
    },
  }, {
    title: `Build the example service image ${EXAMPLE_IMAGE}`,
    run: async () => ((await buildExampleImage()).built ? 'built' : 'up to date'),
  }, {
    title: 'Have the registry notify the agents of every push (auto-upgrade)',
    run: async () => {
      const {configureRegistryNotifications} = await import('./registry-notifications.js')
      return configureRegistryNotifications(local.record.registry, local.cluster, local.paths.stateDir)
    },
  }, {
    title: `Push both to the cluster's registry ${registry}`,
    run: async () => {
      started = performance.now()
      const {pushImage} = await import('../images/push.js')
      const viaNode = (await local.provider.listNodes(local.record.name)).find((n) => n.state === 'running')?.id
      const pushed = await pushImage([installer.tag, installer.latest, EXAMPLE_IMAGE], registry, {viaNode})
      result.installerImage = `${registry}/${installer.tag}`
      return pushed.via === 'node' ? 'through a node (this host\'s dockerd does not trust the registry)' : undefined
    },
  }, {
    title: 'Add the example service to cluster.yaml',
    run: async () => {
      const added = await addServiceToFile(local.paths.clusterFile, 'web', await exampleService())
      cluster = (await loadClusterFile(local.paths.clusterFile)).cluster
      return added ? 'services.web added' : 'services.web is there already'
    },
  }, {
    title: 'Upload secrets to every node (starts the installer)',
    run: async () => {
      uploadedSince = Date.now()
      const uploads = await uploadSecrets(cluster, cluster.machines, {identity: local.paths.key, stateDir: local.paths.stateDir, parallel: options.parallel, installerImage: installer.tag})
      result.uploads = uploads
      const failed = uploads.filter((u) => !u.ok)
      if (failed.length > 0) throw new BerthError(failed.map((f) => `${f.machine}: ${f.step} failed: ${f.error}`).join('; '))
    },
  }, {
    title: 'Wait until every node is installed and its agent has web active',
    run: async () => {
      await waitForInstalled(cluster, {since: uploadedSince, version: installer.tag.split(':')[1], services: ['web'], timeoutMs: options.timeoutMs})
    },
  }, {
    title: 'Check that web answers on every node',
    run: async () => {
      result.urls = await waitForAnswers(cluster, options.timeoutMs)
      result.secondsFromBuiltImage = Math.round((performance.now() - started) / 100) / 10
      return `${result.urls.length} nodes, ${result.secondsFromBuiltImage} s after the push began`
    },
  }]
}

/** Polls http://IP:8080/ on every machine until each names its machine; returns the URLs. */
async function waitForAnswers(cluster: Cluster, timeoutMs: number): Promise<string[]> {
  return Promise.all(cluster.machines.map(async (m) => {
    const url = `http://${m.ip}:8080/`
    return pollUntil(async () => {
      const body = await fetch(url, {signal: AbortSignal.timeout(2000)}).then((r) => r.text(), (e: Error) => `(${e.message})`)
      return body.includes(`Hello from ${m.name}`) ? done(url) : notYet(body.slice(0, 80))
    }, {
      timeoutMs,
      intervalMs: 250,
      retryOn: () => false,
      onTimeout: (last) => new BerthError(`${m.name}: ${url} did not answer with its page within ${timeoutMs / 1000} s (last: ${last.seen ?? ''})`),
    })
  }))
}
