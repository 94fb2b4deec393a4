import type {IncomingMessage, ServerResponse} from 'node:http'

import type {Problem} from '../../errors.js'

/**
 * The admin API's HTTP plumbing, with no framework: JSON bodies read under a size limit,
 * and every answer, errors included, as JSON with headers that keep it out of caches.
 */

/** Largest request body the API reads. */
export const maxBodyBytes = 1024 * 1024

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

/** True when the request says it carries a body. */
function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0
}

/**
 * Reads and parses a JSON body: 415 unless it is declared `application/json`, 413 past
 * 1 MiB (from Content-Length before reading, or while reading), 400 when it does not parse.
 * Returns undefined when there is no body at all.
 */
export async function readJson(req: IncomingMessage): Promise<unknown> {
  if (!hasBody(req)) return undefined
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
  if (type !== 'application/json') {
    throw new ApiError(415, 'unsupported_media_type', `the body must be JSON with Content-Type: application/json, not ${JSON.stringify(type || 'none')}`)
  }
  const tooLarge = new ApiError(413, 'body_too_large', `the body is larger than ${maxBodyBytes} bytes`)
  if (Number(req.headers['content-length'] ?? 0) > maxBodyBytes) throw tooLarge
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > maxBodyBytes) throw tooLarge
    chunks.push(chunk)
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch (error) {
    // The parser's own message may quote the body, so only the position is passed on.
    const at = /position (\d+)/.exec((error as Error).message)?.[1]
    throw new ApiError(400, 'malformed_json', `the body is not valid JSON${at === undefined ? '' : ` (at byte ${at})`}`)
  }
}
