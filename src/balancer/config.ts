/**
 * HAProxy's configuration for a local cluster's balancer, rendered from a template, and
 * the runtime API's answers parsed. Pure: src/balancer/docker.ts runs the container.
 */

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

/** Where HAProxy's admin socket lives inside the container. */
export const ADMIN_SOCKET = '/run/haproxy/admin.sock'

/**
 * The haproxy.cfg: an HTTP frontend on :80, round robin over the machines with a check
 * every 500 ms (down after 2 misses, back after 2 answers), and retries on another server
 * when a connection fails or a response is empty, so a machine that goes away between two
 * checks costs a retry, not a failed request.
 */
export function renderConfig(spec: BalancerSpec): string {
  for (const name of [spec.service, ...spec.servers.map((s) => s.name)]) if (!NAME.test(name)) throw new RangeError(`not a HAProxy name: ${JSON.stringify(name)}`)
  if (!/^\/[\w./-]*$/.test(spec.healthPath)) throw new RangeError(`not a health-check path: ${JSON.stringify(spec.healthPath)}`)
  return `# Written by berth (src/balancer/config.ts); servers are the cluster's machines.
global
  stats socket ${ADMIN_SOCKET} mode 600 level admin
  stats timeout 30s

defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  retries 3
  option redispatch 1
  retry-on conn-failure empty-response response-timeout 502 503

frontend ${spec.service}
  bind :80
  default_backend ${spec.service}

backend ${spec.service}
  balance roundrobin
  option httpchk GET ${spec.healthPath}
  default-server check inter 500 fall 2 rise 2
${spec.servers.map((s) => `  server ${s.name} ${s.ip}:${spec.port}`).join('\n')}
`
}

/** One server as `show stat` reports it. */
export interface ServerStat {
  name: string
  /** UP, DOWN, DRAIN, MAINT, `UP 1/2` while a check is rising ... */
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
