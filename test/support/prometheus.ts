import {writeFile} from 'node:fs/promises'
import {createServer} from 'node:net'
import path from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {execa, type ResultPromise} from 'execa'

/**
 * A real Prometheus server (Debian's `prometheus` package) for the metrics tests: on
 * 127.0.0.1, with a config and a storage folder of its own in a scratch folder, and one
 * static scrape job. The config has nothing else: no service discovery, no alerting, no
 * rules, no remote write, so it contacts nothing but its one target.
 */

/** The one target Prometheus scrapes. */
export interface ScrapeTarget {
  /** HOST:PORT. */
  address: string
  scheme: 'http' | 'https'
  /** PEM file of the CA (or the self-signed certificate) that signs the target's certificate. */
  caFile?: string
  /** File holding the bearer token. */
  tokenFile?: string
}

/** One target as `GET /api/v1/targets` lists it. */
export interface TargetState {
  scrapeUrl: string
  health: string
  lastError: string
}

/** A running Prometheus. */
export interface RunningPrometheus {
  url: string
  /** The active targets of `GET /api/v1/targets`. */
  targets(): Promise<TargetState[]>
  /** An instant query's result vector. */
  query(expr: string): Promise<{metric: Record<string, string>; value: [number, string]}[]>
  /** Waits until every target is up; throws with the last state after `ms`. */
  waitUp(ms: number): Promise<TargetState[]>
  close(): Promise<void>
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** The whole config: one job scraping `target` every second (JSON is YAML). */
export function prometheusConfig(target: ScrapeTarget): object {
  return {
    global: {scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1m'},
    scrape_configs: [{
      job_name: 'berth-agent',
      scheme: target.scheme,
      metrics_path: '/metrics',
      ...(target.tokenFile ? {authorization: {type: 'Bearer', credentials_file: target.tokenFile}} : {}),
      ...(target.caFile ? {tls_config: {ca_file: target.caFile}} : {}),
      static_configs: [{targets: [target.address]}],
    }],
  }
}

/** Starts Prometheus in `dir` scraping `target`; the caller closes it. */
export async function startPrometheus(dir: string, target: ScrapeTarget): Promise<RunningPrometheus> {
  const config = path.join(dir, 'prometheus.yml')
  await writeFile(config, JSON.stringify(prometheusConfig(target), null, 2))
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const child: ResultPromise = execa('prometheus', [
    `--config.file=${config}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn',
  ], {reject: false, all: true, buffer: true})
  const api = async <T>(pathAndQuery: string): Promise<T> => {
    const res = await fetch(`${url}${pathAndQuery}`)
    const body = await res.json() as {status: string; data: T; error?: string}
    if (body.status !== 'success') throw new Error(`prometheus ${pathAndQuery}: ${body.error ?? res.status}`)
    return body.data
  }
  const close = async (): Promise<void> => {
    child.kill('SIGTERM')
    await child
  }
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited: ${String((await child).all)}`)
    const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false)
    if (ready) break
    if (Date.now() > deadline) {
      await close()
      throw new Error(`prometheus was not ready within 30 s: ${String((await child).all)}`)
    }
    await sleep(100)
  }
  const targets = async (): Promise<TargetState[]> => (await api<{activeTargets: TargetState[]}>('/api/v1/targets')).activeTargets
  return {
    url, targets, close,
    query: async (expr) => (await api<{result: {metric: Record<string, string>; value: [number, string]}[]}>(`/api/v1/query?query=${encodeURIComponent(expr)}`)).result,
    async waitUp(ms) {
      const until = Date.now() + ms
      let last: TargetState[] = []
      while (Date.now() < until) {
        last = await targets()
        if (last.length > 0 && last.every((t) => t.health === 'up')) return last
        await sleep(250)
      }
      throw new Error(`prometheus: targets not up within ${ms} ms: ${JSON.stringify(last)}`)
    },
  }
}
