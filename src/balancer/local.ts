import {BerthError} from '../errors.js'
import {done, notYet, pollUntil} from '../poll.js'
import {type LocalCluster, localNetwork} from '../local-cluster/context.js'
import {addressIn} from '../local-cluster/subnet.js'
import type {BalancerHooks} from '../upgrade/machine.js'
import {parseStat, renderConfig, type ServerStat} from './config.js'
import {adminCommand, type BalancerInfo, findBalancer, reload, startBalancer, writeConfig} from './docker.js'
import {ensureBalancerImage} from './image.js'

/** What `local-cluster balancer up` is asked for. */
export interface BalancerOptions {
  service: string
  port: number
  healthPath: string
  /** How long to wait for every machine to answer its health check; 0 does not wait. */
  timeoutMs: number
  /** Retries of a failed request on another server (default 3; 0 turns them off). */
  retries?: number
}

/**
 * Starts the local cluster's balancer at `.3` of its subnet, or, when it runs already,
 * renders the configuration again from today's machines and reloads it (a machine added
 * or removed). Then waits until every server is UP.
 */
export async function balancerUp(local: LocalCluster, options: BalancerOptions): Promise<BalancerInfo & {servers: ServerStat[]}> {
  const spec = {service: options.service, port: options.port, healthPath: options.healthPath, servers: local.cluster.machines.map((m) => ({name: m.name, ip: m.ip}))}
  const config = renderConfig(spec, {retries: options.retries})
  let info = await findBalancer(local.record.name)
  if (info && info.service !== options.service) throw new BerthError(`the balancer of ${local.record.name} serves ${info.service}, not ${options.service}; run \`local-cluster balancer down\` first`)
  if (info) {
    await writeConfig(info.id, config)
    await reload(info.id)
  } else {
    const network = await localNetwork(local)
    info = await startBalancer({cluster: local.record.name, run: local.record.run, network: network.name, ip: addressIn(network.subnet, 3), image: await ensureBalancerImage(), service: options.service, config})
  }
  const servers = options.timeoutMs > 0 ? await waitServers(info, (s) => s.length === spec.servers.length && s.every((x) => x.status === 'UP'), 'every server UP', options.timeoutMs) : await serverStats(info)
  return {...info, servers}
}

/** The balancer's servers as HAProxy sees them now. */
export async function serverStats(info: BalancerInfo): Promise<ServerStat[]> {
  return parseStat(await adminCommand(info.id, 'show stat'), info.service)
}

/** Polls `show stat` (no fixed sleep) until `done` holds; fails with the last states on timeout. */
async function waitServers(info: BalancerInfo, finished: (servers: ServerStat[]) => boolean, what: string, timeoutMs: number): Promise<ServerStat[]> {
  return pollUntil(async () => {
    const servers = await serverStats(info)
    return finished(servers) ? done(servers) : notYet(servers)
  }, {
    timeoutMs,
    intervalMs: 200,
    onTimeout: (last) => new BerthError(`balancer: not ${what} within ${timeoutMs / 1000} s (${last.error instanceof Error ? last.error.message : (last.seen ?? []).map((s) => `${s.name} ${s.status}`).join(', ')})`),
  })
}

/**
 * Drains a server (no new requests) and waits until its requests in flight are done. Its
 * agent-check is turned off first: an agent still running on the machine would otherwise
 * answer `ready` and undo the drain while the upgrade stops its services.
 */
export async function drainServer(info: BalancerInfo, machine: string, timeoutMs = 15_000): Promise<string> {
  // A machine added since the configuration was rendered is not behind the balancer yet.
  if (/No such/i.test(await adminCommand(info.id, `disable agent ${info.service}/${machine}`))) return 'not behind the balancer'
  await adminCommand(info.id, `set server ${info.service}/${machine} state drain`)
  await waitServers(info, (s) => s.some((x) => x.name === machine && x.current === 0), `${machine} idle`, timeoutMs)
  return 'drained, no request in flight'
}

/** Makes a server ready again, hands it back to its agent-check, and waits until its health check (and its agent) has brought it UP. */
export async function readyServer(info: BalancerInfo, machine: string, timeoutMs = 30_000): Promise<string> {
  if (/No such/i.test(await adminCommand(info.id, `set server ${info.service}/${machine} state ready`))) return 'not behind the balancer'
  await adminCommand(info.id, `enable agent ${info.service}/${machine}`)
  await waitServers(info, (s) => s.some((x) => x.name === machine && x.status === 'UP'), `${machine} UP`, timeoutMs)
  return 'UP'
}

/** Upgrade hooks that drain and ready machines through the local balancer; undefined without one. */
export async function localBalancerHooks(local: LocalCluster): Promise<BalancerHooks | undefined> {
  const info = await findBalancer(local.record.name)
  if (!info) return undefined
  return {drain: (m) => drainServer(info, m.name), ready: (m) => readyServer(info, m.name)}
}
