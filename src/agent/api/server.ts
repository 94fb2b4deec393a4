import {readFile} from 'node:fs/promises'
import {createServer as createHttpServer, maxHeaderSize, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import {createServer as createHttpsServer} from 'node:https'
import type {AddressInfo} from 'node:net'
import type {Duplex} from 'node:stream'

import {BerthError, UsageError} from '../../errors.js'
import {isLoopback, parseListen, readToken, type AgentOptions} from '../options.js'
import {applyCors, checkToken} from './guard.js'
import {ApiError, sendError, sendJson, sendRawError, toApiError} from './http.js'
import {isQuartermasterPath, serveQuartermaster} from './quartermaster.js'
import {REGISTRY_EVENTS_PATH, serveRegistryEvents} from './registry-events.js'
import type {ApiDeps} from './deps.js'
import {readinessPath, serveReadiness} from './ready-route.js'
import {route} from './routes.js'

/** The options the admin API reads. */
export type ApiOptions = Pick<AgentOptions, 'listen' | 'tls' | 'insecureHttp' | 'tokenFile' | 'allowedOrigins'>

/** A running admin API. */
export interface RunningApi {
  url: string
  close(): Promise<void>
}

/** One line per request (method, path, status, time): never a header, a body or the token. */
export type ApiLog = (line: string) => void

/**
 * Starts the admin API: HTTPS with the configured certificate, or plain HTTP only on a
 * loopback address when `insecureHttp` is set. The token is read once, from its 0600 file.
 */
export async function startApi(deps: ApiDeps & {options: ApiOptions; log?: ApiLog}): Promise<RunningApi> {
  const {options, log} = deps
  const {host, port} = parseListen(options.listen)
  const token = await readToken(options.tokenFile)
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const started = process.hrtime.bigint()
    void handle(req, res, token, options.allowedOrigins, deps).then((failure) => {
      const path = (req.url ?? '').split('?')[0]
      const ms = (Number(process.hrtime.bigint() - started) / 1e6).toFixed(1)
      log?.(`${req.method} ${path} ${res.statusCode} ${ms} ms${failure ? `: ${failure}` : ''}`)
    })
  }
  let server: Server
  if (options.insecureHttp) {
    if (!isLoopback(host)) throw new UsageError(`the admin API serves plain HTTP only on a loopback address, not ${options.listen}; configure tls`)
    server = createHttpServer(handler)
  } else {
    if (!options.tls) throw new UsageError('the admin API needs tls: {certFile, keyFile}, or insecureHttp on a loopback address')
    const [cert, key] = await Promise.all([options.tls.certFile, options.tls.keyFile].map((file) => readFile(file).catch((error: NodeJS.ErrnoException) => {
      throw new UsageError([{file, message: `cannot read it (${error.code ?? error.message})`, fix: 'upload the admin API certificate and key with berth cluster upload-secrets'}])
    })))
    server = createHttpsServer({cert, key, minVersion: 'TLSv1.2'}, handler)
  }
  // Slow or idle clients must not hold connections forever.
  server.headersTimeout = 10_000
  server.requestTimeout = 30_000
  server.keepAliveTimeout = 5_000
  // Requests the parser refuses, and CONNECT, never reach the handler; Node's own answers
  // to them have no body, and without a listener a CONNECT is dropped unanswered.
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    const answer = clientErrorAnswer(error)
    if (answer && socket.writable && !responding(socket)) {
      sendRawError(socket, answer, isHead(error))
      log?.(`- - ${answer.status}: ${error.code ?? error.message}`)
    } else socket.destroy()
  })
  server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    sendRawError(socket, new ApiError(405, 'method_not_allowed', 'CONNECT is not served here; use GET, PUT, DELETE, POST or OPTIONS'))
    log?.(`CONNECT - 405`)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(new BerthError(`admin API: cannot listen on ${options.listen}: ${error.code ?? error.message}`, {cause: error})))
    server.listen(port, host, resolve)
  })
  const address = server.address() as AddressInfo
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    url: `${options.insecureHttp ? 'http' : 'https'}://${shown}:${address.port}`,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    }),
  }
}

/** Answers one request; returns the cause of a 5xx answer, for the agent's log only. */
async function handle(req: IncomingMessage, res: ServerResponse, token: string, origins: readonly string[], deps: ApiDeps): Promise<string | undefined> {
  try {
    // The raw path, not a normalised one: `/v1/services/..` must be a bad name, not `/v1/`.
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    if (applyCors(req, res, origins)) return undefined
    if (path === '/v1/health' && req.method === 'GET') {
      sendJson(res, 200, {status: 'ok'})
      return undefined
    }
    // Balancers ask without the token; the answer is one word (./ready-route.ts).
    const ready = readinessPath(path)
    if (ready !== undefined) {
      serveReadiness(req, res, ready, deps)
      discardBody(req)
      return undefined
    }
    // quartermaster's clients send the token in the body or the query, on its routes only.
    if (isQuartermasterPath(path)) return await serveQuartermaster(req, res, path, token, deps).finally(() => discardBody(req))
    // The registry's notifications carry a token of their own, not the admin token.
    if (path === REGISTRY_EVENTS_PATH) return void (await serveRegistryEvents(req, res, deps.registryEvents))
    checkToken(req, token)
    await route(req, res, path, deps)
  } catch (error) {
    if (res.headersSent) {
      res.destroy()
      return String(error)
    }
    const answer = toApiError(error)
    sendError(res, answer)
    discardBody(req)
    if (answer.status >= 500) return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  }
  return undefined
}

/** Whether the refused request was a HEAD, as far as its first bytes tell. */
function isHead(error: Error): boolean {
  const raw = (error as Error & {rawPacket?: Buffer}).rawPacket
  return raw?.subarray(0, 5).toString('latin1') === 'HEAD '
}

/** Whether a response on this socket has begun: then a second status line would corrupt it. */
function responding(socket: Duplex): boolean {
  return (socket as Duplex & {_httpMessage?: {headersSent?: boolean}})._httpMessage?.headersSent === true
}

/**
 * The answer to a request the HTTP parser refused, or undefined when the client is gone.
 * llhttp's reasons are fixed texts (never the request's bytes), so they are passed on.
 */
function clientErrorAnswer(error: NodeJS.ErrnoException): ApiError | undefined {
  if (error.code === 'ECONNRESET' || error.code === 'EPIPE') return undefined
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return new ApiError(431, 'headers_too_large', `the request line and headers are larger than ${maxHeaderSize} bytes; send a shorter path and fewer or smaller headers`)
  }
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') return new ApiError(408, 'request_timeout', 'the request took too long to arrive; send it again')
  const reason = error.message.replace(/^Parse Error: /, '')
  return new ApiError(400, 'malformed_request', `the request is not valid HTTP/1.1 (${error.code ?? 'parse error'}: ${reason}); check its request line and headers`)
}

// A client still sending a refused body must be able to read the answer, so the rest is
// read and dropped (closing at once would reset the connection under it), up to a bound.
const maxDiscardBytes = 8 * 1024 * 1024

function discardBody(req: IncomingMessage): void {
  if (req.complete) return
  let dropped = 0
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length
    if (dropped > maxDiscardBytes) req.destroy()
  })
  req.resume()
}
