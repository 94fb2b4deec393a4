import {readFile} from 'node:fs/promises'

import {UsageError} from '../errors.js'
import {resolveCluster, type Loaded} from './load.js'
import type {ClusterDocument} from './types.js'

/** The seed scripts' quick form: positional IPs (all main), workers, a registry and a key file. */
export interface QuickForm {
  name?: string
  mainIps: string[]
  workerIps: string[]
  registry?: string
  sshKeyFile?: string
}

/**
 * Builds a cluster from the quick form, checked exactly like cluster.yaml: machines are
 * named main-1…, worker-1… in the order given.
 */
export async function clusterFromQuickForm(form: QuickForm): Promise<Loaded> {
  const problems = []
  if (form.mainIps.length === 0) problems.push({path: 'IP…', message: 'no machine given', fix: 'pass the main machines\' IPs, or -c cluster.yaml'})
  if (!form.registry) problems.push({path: '--registry', message: 'is required with positional IPs', fix: 'pass --registry HOST[:PORT] or set REGISTRY_URL'})
  if (!form.sshKeyFile) problems.push({path: '--ssh-key', message: 'is required with positional IPs', fix: 'pass --ssh-key ~/.ssh/id_ed25519.pub'})
  if (problems.length > 0) throw new UsageError(problems)
  if (form.sshKeyFile) await readFile(form.sshKeyFile).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError([{path: '--ssh-key', message: `cannot read ${form.sshKeyFile} (${error.code ?? error.message})`, fix: 'point it at a readable public key file'}])
  })
  const document: ClusterDocument = {
    name: form.name ?? 'berth',
    registry: {url: form.registry!},
    ssh: {authorizedKeyFiles: [form.sshKeyFile!]},
    machines: [
      ...form.mainIps.map((ip, i) => ({name: `main-${i + 1}`, ip, role: 'main' as const})),
      ...form.workerIps.map((ip, i) => ({name: `worker-${i + 1}`, ip, role: 'worker' as const})),
    ],
  }
  return resolveCluster(document)
}
