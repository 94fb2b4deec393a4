import {STATUS_CODES, type IncomingMessage, type ServerResponse} from 'node:http'
import type {Duplex} from 'node:stream'

import {BerthError, RetryableError, UsageError, type Problem} from '../../errors.js'
import {serviceNameProblem} from '../../spec/service.js'

/**
 * The admin API's HTTP plumbing, with no framework: JSON bodies read under a size limit,
 * and every answer, errors included, as JSON with headers that keep it out of caches.
 */

/** Largest request body the API reads. */
export const maxBodyBytes = 1024 * 1024

/**
 * Deepest nesting of arrays and objects a body may have. A service spec needs four levels
 * and env values a few more; validators, stores and JSON.stringify recurse, and a body
 * nested 100,000 levels deep would overflow the stack in one of them.
 */
export const maxBodyDepth = 64

/** An answer other than success: its status, a stable code for programs, a sentence for people. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly problems?: Problem[],
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}

/** Writes `body` as JSON with `status`. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = `${JSON.stringify(body)}\n`
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  })
  res.end(text)
}

/** Writes an ApiError as `{error: {code, message, problems?}}`. */
export function sendError(res: ServerResponse, error: ApiError): void {
  const problems = error.problems?.map(({path, message, fix}) => ({path, message, fix}))
  sendJson(res, error.status, {error: {code: error.code, message: error.message, ...(problems ? {problems} : {})}}, error.headers)
}

/** How long a socket answered by {@link sendRawError} may stay open for the client to close it. */
const rawLingerMs = 2000

/**
 * Writes an error answer straight to a socket that no ServerResponse owns (a request the
 * HTTP parser refused, a CONNECT), then closes it: the client gets the same JSON as anywhere.
 * `head` leaves the body out, for a request that was a HEAD.
 */
export function sendRawError(socket: Duplex, error: ApiError, head = false): void {
  const text = `${JSON.stringify({error: {code: error.code, message: error.message}})}\n`
  const lines = [
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}`,
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(text)}`,
    'cache-control: no-store',
    'x-content-type-options: nosniff',
    'connection: close',
  ]
  // The rest of what the client sends is read and dropped: unread bytes would make the
  // kernel reset the connection under the answer. A client that never closes its side is
  // cut off after a while, or the socket (and the server's close) would wait for it forever.
  socket.on('error', () => socket.destroy())
  socket.resume()
  // An answer to HEAD has headers only; a body would be read as the next answer.
  socket.end(`${lines.join('\r\n')}\r\n\r\n${head ? '' : text}`)
  const timer = setTimeout(() => socket.destroy(), rawLingerMs)
  socket.once('close', () => clearTimeout(timer))
}

/**
 * True when `text` nests arrays and objects deeper than `limit`. It counts brackets
 * outside strings on the raw text, so no parser or validator ever sees such a body;
 * text that is not JSON is left for JSON.parse to refuse.
 */
export function nestingPastLimit(text: string, limit: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // a backslash escapes the next character, quote included
      else if (c === 0x22) inString = false
    } else if (c === 0x22) inString = true
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true
    } else if (c === 0x5d || c === 0x7d) depth--
  }
  return false
}

/**
 * Reads the body, up to {@link maxBodyBytes}. Past that it refuses without destroying the
 * request (breaking out of `for await` would): the caller drains the rest, so the answer
 * reaches the client and the kept-alive connection stays usable for its next request.
 */
function readBody(req: IncomingMessage, tooLarge: ApiError): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    const settle = (error?: Error): void => {
      req.off('data', onData).off('end', onEnd).off('close', onClose)
      if (error) reject(error)
      else resolve(Buffer.concat(chunks))
    }
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size <= maxBodyBytes) chunks.push(chunk)
      else {
        req.pause()
        settle(tooLarge)
      }
    }
    const onEnd = (): void => settle()
    // The client went away mid-body: nobody reads this answer, but it is no fault of the agent.
    const onClose = (): void => settle(new ApiError(400, 'incomplete_body', 'the request body ended before its declared length; send the whole body'))
    req.on('data', onData).once('end', onEnd).once('close', onClose)
  })
}

/** True when the request says it carries a body. */
function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0
}

/**
 * Reads and parses a JSON body: 415 unless it is declared `application/json`, 413 past
 * 1 MiB (from Content-Length before reading, or while reading), 400 when it nests deeper
 * than {@link maxBodyDepth} or does not parse.
 * Returns undefined when there is no body at all.
 */
export async function readJson(req: IncomingMessage, types: readonly string[] = ['application/json']): Promise<unknown> {
  if (!hasBody(req)) return undefined
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
  if (!types.includes(type ?? '')) {
    throw new ApiError(415, 'unsupported_media_type', `the body must be JSON with Content-Type: ${types.join(' or ')}, not ${JSON.stringify(type || 'none')}`)
  }
  const tooLarge = new ApiError(413, 'body_too_large', `the body is larger than ${maxBodyBytes} bytes`)
  if (Number(req.headers['content-length'] ?? 0) > maxBodyBytes) throw tooLarge
  const text = (await readBody(req, tooLarge)).toString('utf8')
  if (nestingPastLimit(text, maxBodyDepth)) {
    throw new ApiError(400, 'too_deep', `the request body nests deeper than ${maxBodyDepth} levels of arrays and objects; flatten it (a service spec needs fewer than ten)`)
  }
  try {
    return JSON.parse(text)
  } catch (error) {
    // The parser's own message may quote the body, so only the position is passed on.
    const at = /position (\d+)/.exec((error as Error).message)?.[1]
    throw new ApiError(400, 'malformed_json', `the body is not valid JSON${at === undefined ? '' : ` (at byte ${at})`}`)
  }
}

/** Translates errors at the boundary: berth's own keep their message, anything else is a bare 500. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error
  if (error instanceof UsageError) return new ApiError(400, 'bad_request', error.message, error.problems)
  if (error instanceof RetryableError) return new ApiError(503, 'unavailable', error.message, undefined, {'retry-after': '1'})
  if (error instanceof BerthError) return new ApiError(500, 'failed', error.message)
  // An unexpected error may carry anything in its message: it is not passed on.
  return new ApiError(500, 'internal', 'internal error; see the agent log')
}

/** A path segment percent-decoded; one that is not valid percent-encoding is left as sent (the checks after it refuse it). */
export function decodePathPart(raw: string): string {
  try {
    return decodeURIComponent(raw)
  } catch {
    return raw
  }
}

/** The service name a path segment carries; a 400 naming the problem and its fix when it is not one. */
export function serviceInPath(raw: string): string {
  const name = decodePathPart(raw)
  const problem = serviceNameProblem(name)
  if (problem) throw new ApiError(400, 'bad_name', `${problem.message}; ${problem.fix}`)
  return name
}

/** A 405 with the Allow header unless the route takes `method`. */
export function allowMethods(method: string, methods: readonly string[]): void {
  if (!methods.includes(method)) throw new ApiError(405, 'method_not_allowed', `use ${methods.join(' or ')} here`, undefined, {allow: methods.join(', ')})
}
