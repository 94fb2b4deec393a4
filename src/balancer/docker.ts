import {BerthError} from '../errors.js'
import {BALANCER_ROLE, docker, removeContainer} from '../local-cluster/containers.js'
import {LABEL} from '../local-cluster/provider.js'
import {tar} from '../local-cluster/tar.js'
import {ADMIN_SOCKET} from './config.js'

/** A running balancer container, as found by its labels. */
export interface BalancerInfo {
  id: string
  name: string
  ip: string
  /** The port on 127.0.0.1 that reaches it. */
  port: number
  url: string
  /** The backend's name: the service it balances. */
  service: string
}

/** The label that names the service a balancer stands in front of. */
export const SERVICE_LABEL = 'berth.service'

/** The cluster's balancer container, if one exists (found by the cluster and role labels). */
export async function findBalancer(cluster: string): Promise<BalancerInfo | undefined> {
  const id = (await docker(['ps', '-q', '--no-trunc', '--filter', `label=${LABEL.cluster}=${cluster}`, '--filter', `label=${LABEL.role}=${BALANCER_ROLE}`])).split('\n')[0]
  if (!id) return undefined
  const [name, ip, service, port] = (await docker(['inspect', '--format', `{{.Name}} {{index .Config.Labels "${LABEL.ip}"}} {{index .Config.Labels "${SERVICE_LABEL}"}} {{(index (index .NetworkSettings.Ports "80/tcp") 0).HostPort}}`, id])).split(' ')
  return {id, name: (name ?? '').replace(/^\//, ''), ip: ip ?? '', service: service ?? '', port: Number(port), url: `http://127.0.0.1:${port}`}
}

/**
 * Starts the balancer on the cluster's network at a static address, its port 80 published
 * on 127.0.0.1 only (a free port dockerd chooses), labelled with the cluster and run.
 */
export async function startBalancer(options: {cluster: string; run: string; network: string; ip: string; image: string; service: string; config: string}): Promise<BalancerInfo> {
  const labels = {[LABEL.cluster]: options.cluster, [LABEL.run]: options.run, [LABEL.role]: BALANCER_ROLE, [LABEL.ip]: options.ip, [SERVICE_LABEL]: options.service}
  const id = await docker(['create', '--name', `berth-${options.cluster}-balancer`, '--network', options.network, '--ip', options.ip, '-p', '127.0.0.1::80',
    ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]), options.image])
  try {
    await writeConfig(id, options.config)
    await docker(['start', id])
  } catch (error) {
    await docker(['rm', '-f', id]).catch(() => undefined)
    throw error
  }
  const info = await findBalancer(options.cluster)
  if (!info) throw new BerthError(`the balancer ${id.slice(0, 12)} exited right after its start: see \`docker logs ${id.slice(0, 12)}\``)
  return info
}

/** Puts a new haproxy.cfg into the container (docker cp takes a tar stream). */
export async function writeConfig(id: string, config: string): Promise<void> {
  await docker(['cp', '-', `${id}:/etc/haproxy`], tar([{name: 'haproxy.cfg', mode: 0o644, content: config}]))
}

/** Makes HAProxy re-read its configuration (master-worker mode: in-flight requests finish on the old worker). */
export async function reload(id: string): Promise<void> {
  await docker(['kill', '--signal', 'USR2', id])
}

/** Sends one command to HAProxy's runtime API and returns its answer. */
export async function adminCommand(id: string, command: string): Promise<string> {
  if (/[\n'"]/.test(command)) throw new RangeError(`not a runtime API command: ${JSON.stringify(command)}`)
  return docker(['exec', id, 'sh', '-c', `echo '${command}' | socat stdio ${ADMIN_SOCKET}`])
}

/** Removes the balancer container by id. */
export async function removeBalancer(id: string): Promise<void> {
  await removeContainer(id)
}
