import {readFile} from 'node:fs/promises'

import {Chain} from '../cli/chain.js'
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

/** The steps as a chain, each given what the ones before it handed on; `result` once every step ran. */
export function provisionSteps(local: LocalCluster, options: {timeoutMs: number; parallel: number}): {steps: Step[]; result: () => ProvisionResult} {
  const registry = local.record.registry.host
  const plan = new Chain({})
    .step('Build the installer image', async () => {
      const {buildInstallerImage} = await import('../images/installer.js')
      const installer = await buildInstallerImage()
      return {note: `${installer.built ? 'built' : 'up to date'}: ${installer.tag}`, installer}
    })
    .step(`Build the example service image ${EXAMPLE_IMAGE}`, async () => ({note: (await buildExampleImage()).built ? 'built' : 'up to date'}))
    .step('Have the registry notify the agents of every push (auto-upgrade)', async () => {
      const {configureRegistryNotifications} = await import('./registry-notifications.js')
      return {note: await configureRegistryNotifications(local.record.registry, local.cluster, local.paths.stateDir)}
    })
    .step(`Push both to the cluster's registry ${registry}`, async ({installer}) => {
      const started = performance.now()
      const {pushImage} = await import('../images/push.js')
      const viaNode = (await local.provider.listNodes(local.record.name)).find((n) => n.state === 'running')?.id
      const pushed = await pushImage([installer.tag, installer.latest, EXAMPLE_IMAGE], registry, {viaNode})
      return {note: pushed.via === 'node' ? 'through a node (this host\'s dockerd does not trust the registry)' : undefined, started, installerImage: `${registry}/${installer.tag}`}
    })
    .step('Add the example service to cluster.yaml', async () => {
      const added = await addServiceToFile(local.paths.clusterFile, 'web', await exampleService())
      const {cluster} = await loadClusterFile(local.paths.clusterFile)
      return {note: added ? 'services.web added' : 'services.web is there already', cluster}
    })
    .step('Upload secrets to every node (starts the installer)', async ({cluster, installer}) => {
      const uploadedSince = Date.now()
      const uploads = await uploadSecrets(cluster, cluster.machines, {identity: local.paths.key, stateDir: local.paths.stateDir, parallel: options.parallel, installerImage: installer.tag})
      const failed = uploads.filter((u) => !u.ok)
      if (failed.length > 0) throw new BerthError(failed.map((f) => `${f.machine}: ${f.step} failed: ${f.error}`).join('; '))
      return {uploads, uploadedSince}
    })
    .step('Wait until every node is installed and its agent has web active', async ({cluster, installer, uploadedSince}) => {
      await waitForInstalled(cluster, {since: uploadedSince, version: installer.tag.split(':')[1], services: ['web'], timeoutMs: options.timeoutMs})
      return {}
    })
    .step('Check that web answers on every node', async ({cluster, started}) => {
      const urls = await waitForAnswers(cluster, options.timeoutMs)
      const secondsFromBuiltImage = Math.round((performance.now() - started) / 100) / 10
      return {note: `${urls.length} nodes, ${secondsFromBuiltImage} s after the push began`, urls, secondsFromBuiltImage}
    })
  const result = (): ProvisionResult => {
    const {installerImage, uploads, urls, secondsFromBuiltImage} = plan.result()
    return {installerImage, uploads, urls, secondsFromBuiltImage}
  }
  return {steps: plan.steps, result}
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
