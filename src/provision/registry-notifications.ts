import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {REGISTRY_EVENTS_PATH, registryEventsToken} from '../agent/api/registry-events.js'
import type {Cluster} from '../config/types.js'
import {BerthError, outputTail} from '../errors.js'
import {done, notYet, pollUntil} from '../poll.js'
import {ensureNodeSecrets, secretsDir} from './node-secrets.js'
import {REGISTRY_BASE_CONFIG} from '../local-cluster/image.js'
import type {RegistryInfo} from '../local-cluster/provider.js'

/**
 * The local cluster's registry sends a push notification to every agent's admin API
 * (`POST /v1/registry-events`), so auto-upgrade starts within a second of a push instead of
 * at the next poll. The endpoint's token (derived from the admin token) and the agents'
 * self-signed certificates go into the registry container's tmpfs (`/run/registry`, 0700,
 * files 0600) through `docker exec -i`'s stdin: never on a command line, in the image, the
 * container's config or on disk. The container's loop then restarts `docker-registry serve`
 * on that config; a restarted container starts on its baked config, without notifications,
 * until this runs again (polling still finds every push).
 */


/** Where the container's loop looks for a config, and where Go finds the CAs to trust (SSL_CERT_FILE). */
export const REGISTRY_RUN_DIR = '/run/registry'

/** One agent the registry notifies. */
export interface NotifiedAgent {
  name: string
  /** https://IP:PORT of its admin API. */
  url: string
}

/** The registry config with one notification endpoint per agent (distribution's `notifications.endpoints`). */
export function notifyingConfig(agents: readonly NotifiedAgent[], token: string, base = REGISTRY_BASE_CONFIG): string {
  const endpoints = agents.map((a) => [
    `    - name: ${JSON.stringify(a.name)}`,
    `      url: ${JSON.stringify(`${a.url}${REGISTRY_EVENTS_PATH}`)}`,
    '      headers:',
    `        Authorization: [${JSON.stringify(`Bearer ${token}`)}]`,
    // A down agent must not hold the others up: short timeout, few retries, then it backs off.
    '      timeout: 2s',
    '      threshold: 3',
    '      backoff: 2s',
    '      ignoredmediatypes: [application/octet-stream]',
  ].join('\n'))
  return `${base}notifications:\n  endpoints:\n${endpoints.join('\n')}\n`
}

/**
 * Writes the notifying config and the agents' certificates into the running registry and
 * restarts its server there; returns why it did nothing for a registry started from an image
 * older than the loop (polling alone then).
 */
export async function configureRegistryNotifications(registry: Pick<RegistryInfo, 'id' | 'host'>, cluster: Cluster, stateDir: string): Promise<string | undefined> {
  const {execa} = await import('execa')
  const loop = await execa('docker', ['exec', registry.id, 'test', '-f', `${REGISTRY_RUN_DIR}/pid`], {reject: false})
  if (loop.exitCode !== 0) return `skipped: the registry's container predates notifications (recreate the local cluster); auto-upgrade polls`
  // The admin token and each machine's certificate, made now where missing (upload-secrets then finds them).
  const secrets = await ensureNodeSecrets(cluster, cluster.machines, stateDir)
  const token = registryEventsToken((await readFile(path.join(secretsDir(stateDir), 'api-token'), 'utf8')).trim())
  const certs = await Promise.all(cluster.machines.map(async (m) => readFile(secrets.get(m.name)!.find((f) => f.name === 'api.crt')!.local, 'utf8')))
  const config = notifyingConfig(cluster.machines.map((m) => ({name: m.name, url: `https://${m.ip}:8443`})), token)
  await writeInto(registry.id, 'agents.pem', certs.join(''))
  await writeInto(registry.id, 'config.yml', config)
  const restarted = await execa('docker', ['exec', registry.id, 'sh', '-c', `kill "$(cat ${REGISTRY_RUN_DIR}/pid)"`], {reject: false, all: true})
  if (restarted.exitCode !== 0) throw new BerthError(`registry ${registry.host}: could not restart its server on the new config: ${outputTail(restarted.all, 3, ' ')}`)
  await untilServing(registry.host)
  return `${cluster.machines.length} agents notified`
}

/** Writes `content` to `/run/registry/NAME` in the container (0600, renamed into place), from stdin. */
async function writeInto(container: string, name: string, content: string): Promise<void> {
  const {execa} = await import('execa')
  const script = `umask 077 && cat > ${REGISTRY_RUN_DIR}/.${name}.new && mv ${REGISTRY_RUN_DIR}/.${name}.new ${REGISTRY_RUN_DIR}/${name}`
  const written = await execa('docker', ['exec', '-i', container, 'sh', '-c', script], {input: content, reject: false, all: true})
  if (written.exitCode !== 0) throw new BerthError(`registry container ${container.slice(0, 12)}: could not write ${REGISTRY_RUN_DIR}/${name}: ${outputTail(written.all, 3, ' ')}`)
}

/** Waits until the registry answers `/v2/` again after its restart (a few hundred ms). */
async function untilServing(host: string, timeoutMs = 15_000): Promise<void> {
  await pollUntil(async () => {
    const answer = await fetch(`http://${host}/v2/`, {signal: AbortSignal.timeout(1000)})
    return answer.status === 200 ? done(undefined) : notYet(answer.status)
  }, {
    timeoutMs,
    intervalMs: 100,
    onTimeout: () => new BerthError(`registry ${host} did not answer /v2/ within ${timeoutMs / 1000} s of its restart; see docker logs of its container`),
  })
}
