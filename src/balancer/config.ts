/**
 * HAProxy's configuration for a local cluster's balancer, rendered from a template, and
 * the runtime API's answers parsed. Pure: src/balancer/docker.ts runs the container.
 */

import {AGENT_CHECK_PORT} from '../agent/drain/drain.js'
import {UsageError, type Problem} from '../errors.js'

/** What the balancer stands in front of: one service that runs on every machine. */
export interface BalancerSpec {
  /** The backend's name, the service's (`web`). */
  service: string
  port: number
  /** Path of the HTTP health check. */
  healthPath: string
  servers: {name: string; ip: string}[]
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/
const HEALTH_PATH = /^\/[\w./-]*$/

/** Where HAProxy's admin socket lives inside the container. */
export const ADMIN_SOCKET = '/run/haproxy/admin.sock'

/**
 * The haproxy.cfg: an HTTP frontend on :80, round robin over the machines with a check
 * every 500 ms (down after 2 misses, back after 2 answers), and retries on another server
 * when a connection fails or a response is empty, so a machine that goes away between two
 * checks costs a retry, not a failed request. Every 500 ms each server's agent is also
 * asked about the service (HAProxy's agent-check on {@link AGENT_CHECK_PORT}): it answers
 * `drain` while its copy drains before a stop or has not yet passed its check after a
 * start, and `ready` once it has, so berth itself takes a copy out before stopping it.
 * `retries` 0 turns the retries off (the bench's way to count what a drain saves).
 */
export function renderConfig(spec: BalancerSpec, options: {retries?: number} = {}): string {
  checkSpec(spec)
  return `# Written by berth (src/balancer/config.ts); servers are the cluster's machines.
global
  stats socket ${ADMIN_SOCKET} mode 600 level admin
  stats timeout 30s

defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
${(options.retries ?? 3) > 0 ? `  retries ${options.retries ?? 3}
  option redispatch 1
  retry-on conn-failure empty-response response-timeout 502 503` : '  retries 0'}

frontend ${spec.service}
  bind :80
  default_backend ${spec.service}

backend ${spec.service}
  balance roundrobin
  option httpchk GET ${spec.healthPath}
  default-server check inter 500 fall 2 rise 2
${spec.servers.map((s) => `  server ${s.name} ${s.ip}:${spec.port} agent-check agent-port ${AGENT_CHECK_PORT} agent-inter 500 agent-send "${spec.service}\\n"`).join('\n')}
`
}

/** One server as `show stat` reports it. */
export interface ServerStat {
  name: string
  /** UP, DOWN, DRAIN (set on the admin socket), `DRAIN (agent)` (told by the agent-check), MAINT, `UP 1/2` while a check is rising ... */
  status: string
  /** Requests in flight (current sessions). */
  current: number
}

/** Parses `show stat` CSV into the servers of one backend. */
export function parseStat(csv: string, backend: string): ServerStat[] {
  const lines = csv.trim().split('\n')
  const header = (lines[0] ?? '').replace(/^# /, '').split(',')
  const col = (name: string) => header.indexOf(name)
  return lines.slice(1).map((l) => l.split(',')).filter((f) => f[col('pxname')] === backend && !['FRONTEND', 'BACKEND'].includes(f[col('svname')] ?? ''))
    .map((f) => ({name: f[col('svname')] ?? '', status: f[col('status')] ?? '', current: Number(f[col('scur')] ?? 0)}))
}

/** The service, machine names and health path become HAProxy words: each is checked, every problem at once. */
function checkSpec(spec: BalancerSpec): void {
  const nameFix = 'letters, digits, "_", "." and "-", starting with a letter or digit'
  const problems: Problem[] = [
    ...(NAME.test(spec.service) ? [] : [{path: '--service', message: `not a HAProxy name: ${JSON.stringify(spec.service)}`, fix: `a service name: ${nameFix}`}]),
    ...spec.servers.filter((s) => !NAME.test(s.name)).map((s) => ({path: 'machines', message: `not a HAProxy name: ${JSON.stringify(s.name)}`, fix: `rename the machine: ${nameFix}`})),
    ...(HEALTH_PATH.test(spec.healthPath) ? [] : [{path: '--health-path', message: `not a health-check path: ${JSON.stringify(spec.healthPath)}`, fix: 'a path starting with "/" of letters, digits, "_", ".", "/" and "-", like /health'}]),
  ]
  if (problems.length > 0) throw new UsageError(problems)
}
