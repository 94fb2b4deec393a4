import {readFile} from 'node:fs/promises'
import {createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import {createServer as createHttpsServer} from 'node:https'
import type {AddressInfo} from 'node:net'

import {BerthError, UsageError} from '../../errors.js'
import {checkToken} from './guard.js'
import {ApiError, sendError} from './http.js'
import type {AgentMetrics} from '../loop/metrics.js'
import {isLoopback, parseListen, readToken, type AgentOptions} from '../options.js'

/**
 * Where the agent's metrics are served: by default `GET /metrics` on the admin API (same
 * token, same TLS), or, with `metrics.listen`, a listener of their own. On a loopback
 * address that listener is plain HTTP without a token (only this machine reaches it, as a
 * Prometheus beside the agent would); on any other address it is HTTPS with the admin API's
 * certificate and token, so the metrics are never less guarded than the admin API.
 */

/** What `agent run` gets: the admin API's route (when metrics are served there) and a close. */
export interface ServedMetrics {
  /** For the admin API's deps; undefined when the metrics have a listener of their own. */
  onApi?: () => Promise<{contentType: string; body: string}>
  /** The own listener's URL, if any. */
  url?: string
  close(): Promise<void>
}

/** Serves the metrics as the options say. */
export async function serveMetrics(metrics: AgentMetrics, options: Pick<AgentOptions, 'metrics' | 'tls' | 'tokenFile'>): Promise<ServedMetrics> {
  const listen = options.metrics?.listen
  if (listen === undefined) return {onApi: () => metrics.render(), close: async () => {}}
  const {host, port} = parseListen(listen)
  const loopback = isLoopback(host)
  const token = loopback ? undefined : await readToken(options.tokenFile)
  const handler = (req: IncomingMessage, res: ServerResponse): void => void answer(req, res, metrics, token)
  const server = loopback ? createHttpServer(handler) : createHttpsServer({...(await tlsPair(options)), minVersion: 'TLSv1.2'}, handler)
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000
  await listenOn(server, host, port, listen)
  const address = server.address() as AddressInfo
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    url: `${loopback ? 'http' : 'https'}://${shown}:${address.port}/metrics`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    }),
  }
}

async function answer(req: IncomingMessage, res: ServerResponse, metrics: AgentMetrics, token: string | undefined): Promise<void> {
  try {
    if (token !== undefined) checkToken(req, token)
    const path = (req.url ?? '/').split('?')[0]
    if (path !== '/metrics') throw new ApiError(404, 'not_found', 'this listener serves GET /metrics only')
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new ApiError(405, 'method_not_allowed', 'use GET here', undefined, {allow: 'GET'})
    const {contentType, body} = await metrics.render()
    res.writeHead(200, {'content-type': contentType, 'cache-control': 'no-store'}).end(req.method === 'HEAD' ? undefined : body)
  } catch (error) {
    sendError(res, error instanceof ApiError ? error : new ApiError(500, 'internal', 'internal error; see the agent log'))
  }
  req.resume()
}

async function tlsPair(options: Pick<AgentOptions, 'tls'>): Promise<{cert: Buffer; key: Buffer}> {
  if (!options.tls) throw new UsageError('metrics/listen off loopback serves HTTPS with the admin API\'s tls: {certFile, keyFile}; configure tls or listen on 127.0.0.1')
  const [cert, key] = await Promise.all([options.tls.certFile, options.tls.keyFile].map((file) => readFile(file)))
  return {cert: cert!, key: key!}
}

function listenOn(server: Server, host: string, port: number, listen: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(new BerthError(`metrics: cannot listen on ${listen}: ${error.code ?? error.message}`, {cause: error})))
    server.listen(port, host, resolve)
  })
}
