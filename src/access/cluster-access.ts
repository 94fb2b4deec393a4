import {readFile} from 'node:fs/promises'
import path from 'node:path'
import * as Flags from '@oclif/core/flags'

import {ApiClient} from './api-client.js'
import {loadAgentOptions, readToken, type SecretsOptions, type StoreOptions} from '../agent/options.js'
import {ETCD_PREFIX} from '../layout/records.js'
import {etcdEndpoints} from '../cluster/target.js'
import {BerthError, UsageError} from '../errors.js'
import {exists} from '../fsx.js'
import {configFlag, stateDirFlag} from '../cli/flags.js'

/**
 * How the day-two commands (`service`, `secrets`) reach a cluster: from cluster.yaml (or a
 * local cluster) and berth's state dir alone, where the provisioner keeps the admin token,
 * each machine's API certificate and the master key; or, for other setups, from explicit
 * flags naming an agent's URL and token file, or an agent options file.
 */

const clusterFlags = {
  config: configFlag,
  'state-dir': stateDirFlag,
  'local-cluster': Flags.string({description: 'Work on this local cluster (its cluster.yaml and state) instead of --config.'}),
}

/** The flags that name one agent's admin API instead of the cluster's first that answers. */
export const apiUrlFlags = {
  url: Flags.string({description: 'Admin API of an agent, like https://10.0.0.11:8443 (default: the first agent of the cluster that answers).', env: 'BERTH_API_URL'}),
  'token-file': Flags.string({description: 'File (mode 0600) holding the admin token (default: the cluster\'s, from berth\'s state dir).', env: 'BERTH_API_TOKEN_FILE'}),
  ca: Flags.string({description: "PEM certificate to trust: the agent's own, when it is self-signed.", env: 'BERTH_API_CA'}),
  'insecure-skip-verify': Flags.boolean({description: "Do not check the agent's certificate (anyone on the path could read the token).", exclusive: ['ca']}),
}

/** The flags of every command that calls an agent's admin API. */
export const apiFlags = {...clusterFlags, ...apiUrlFlags}

/** The flags of every `secrets` command. */
export const secretsFlags = {
  ...clusterFlags,
  options: Flags.string({description: 'berth-agent options file (JSON) naming the store and the key provider (default: the cluster\'s etcd and master key).', env: 'BERTH_AGENT_OPTIONS'}),
}

type ClusterFlags = {config: string; 'state-dir'?: string; 'local-cluster'?: string}
type ApiFlags = ClusterFlags & {url?: string; 'token-file'?: string; ca?: string; 'insecure-skip-verify'?: boolean}

/** The admin API port every provisioned agent listens on (src/provision/agent-unit.ts). */
const AGENT_API_PORT = 8443
/** How long a machine's agent may take to answer before the next one is asked. */
const PROBE_MS = 3000

/** An admin API client: the explicit URL when given, else the first of the cluster's agents that answers. */
export async function apiClient(flags: ApiFlags): Promise<ApiClient> {
  if (flags.url !== undefined) return explicitClient(flags.url, flags)
  if (flags['token-file'] !== undefined || flags.ca !== undefined) {
    throw new UsageError([{path: flags['token-file'] === undefined ? '--ca' : '--token-file', message: 'goes with --url', fix: 'add --url https://HOST:8443, or leave both out to use the cluster\'s own'}])
  }
  const {cluster, secrets} = await clusterAndSecrets(flags)
  const tokenFile = path.join(secrets, 'api-token')
  if (!(await exists(tokenFile))) {
    throw new UsageError([{file: tokenFile, message: `cluster ${cluster.name} has no admin token in berth's state dir`, fix: 'run berth cluster upload-secrets (it makes one), or pass --url and --token-file'}])
  }
  const token = await readToken(tokenFile)
  // Every agent is asked at once; the first in cluster.yaml's order that answers is used.
  const candidates = cluster.machines.map((machine) => ({machine, answer: probe(machine, secrets, token)}))
  const failures: string[] = []
  for (const {machine, answer} of candidates) {
    const result = await answer
    if (result instanceof ApiClient) return result
    failures.push(`${machine.name} (${result})`)
  }
  throw new BerthError(`no agent of cluster ${cluster.name} answered on port ${AGENT_API_PORT}: ${failures.join(', ')}; check berth cluster status, or pass --url`)
}

async function probe(machine: {name: string; ip: string}, secrets: string, token: string): Promise<ApiClient | string> {
  const certFile = path.join(secrets, 'machines', machine.name, 'api.crt')
  const ca = await readFile(certFile).catch(() => undefined)
  if (!ca) return `no certificate in ${certFile}`
  const client = new ApiClient({url: `https://${machine.ip}:${AGENT_API_PORT}`, token, ca})
  try {
    await client.health(PROBE_MS)
    return client
  } catch (error) {
    // The cause's code (ECONNREFUSED, a certificate error) says it; the client's sentence is for one agent.
    const cause = (error as Error).cause as NodeJS.ErrnoException | undefined
    return cause?.code ?? cause?.message ?? (error as Error).message
  }
}

async function explicitClient(urlText: string, flags: ApiFlags): Promise<ApiClient> {
  let url: URL
  try {
    url = new URL(urlText)
  } catch {
    throw new UsageError([{path: '--url', message: `${JSON.stringify(urlText)} is not a URL`, fix: 'write https://HOST:8443'}])
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError([{path: '--url', message: `${url.protocol} is not http: or https:`}])
  if (flags['token-file'] === undefined) throw new UsageError([{path: '--token-file', message: 'is needed with --url', fix: 'pass the file holding the admin token (mode 0600)'}])
  const ca = flags.ca === undefined ? undefined : await readFile(flags.ca).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError([{file: flags.ca, message: `cannot read the CA certificate (${error.code ?? error.message})`}])
  })
  if (flags['insecure-skip-verify']) process.stderr.write(`berth: warning: --insecure-skip-verify: the certificate of ${url.host} is not checked; anyone on the path can read the token\n`)
  const token = await readToken(flags['token-file'])
  return new ApiClient({url: url.origin, token, ca, insecureSkipVerify: flags['insecure-skip-verify']})
}

/** Where the `secrets` commands keep and seal secrets: the options file's store and key, or the cluster's etcd and master key. */
export async function secretsBackend(flags: ClusterFlags & {options?: string}): Promise<{store: StoreOptions; secrets: SecretsOptions}> {
  if (flags.options !== undefined) return loadAgentOptions(flags.options)
  const {cluster, secrets} = await clusterAndSecrets(flags)
  return {
    store: {kind: 'etcd', endpoints: etcdEndpoints(cluster), prefix: ETCD_PREFIX},
    secrets: {kind: 'local', masterKeyFile: path.join(secrets, 'master.key')},
  }
}

async function clusterAndSecrets(flags: ClusterFlags): Promise<{cluster: import('../config/types.js').Cluster; secrets: string}> {
  const [{resolveTarget}, {secretsDir}] = await Promise.all([import('../provision/target.js'), import('../provision/node-secrets.js')])
  const target = await resolveTarget(flags)
  return {cluster: target.cluster, secrets: secretsDir(target.stateDir)}
}
