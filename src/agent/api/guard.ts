import {createHash, timingSafeEqual} from 'node:crypto'
import type {IncomingMessage, ServerResponse} from 'node:http'

import {ApiError} from './http.js'

/**
 * What every request passes before a route sees it: the bearer token and the CORS rules.
 */

/** Methods and headers a browser on an allowed origin may use. */
export const corsMethods = 'GET, PUT, DELETE, POST, OPTIONS'
const corsHeaders = 'Authorization, Content-Type'

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest()

/**
 * Checks `Authorization: Bearer <token>`. Both sides are hashed first so the comparison
 * is constant-time over equal-length digests and neither the token's length nor a common
 * prefix shows in the timing.
 */
export function checkToken(req: IncomingMessage, token: string): void {
  const header = req.headers.authorization ?? ''
  const match = /^Bearer ([^\s]+)$/i.exec(header)
  const ok = tokenMatches(match?.[1] ?? '', token)
  if (!ok || !match) {
    throw new ApiError(401, 'unauthorized', match ? 'the token is wrong' : 'send Authorization: Bearer <token>', undefined, {'www-authenticate': 'Bearer realm="berth"'})
  }
}

/** Compares a given token with the agent's in constant time (over digests, so length and prefixes do not show). */
export function tokenMatches(given: string, token: string): boolean {
  return timingSafeEqual(digest(given), digest(token))
}

/**
 * Adds CORS headers for an allowed origin and answers preflights. A disallowed origin gets
 * no CORS headers at all, so the browser refuses the answer. Returns true when the request
 * was a preflight and has been answered.
 */
export function applyCors(req: IncomingMessage, res: ServerResponse, allowedOrigins: readonly string[]): boolean {
  const origin = req.headers.origin
  res.setHeader('vary', 'Origin')
  const allowed = origin !== undefined && allowedOrigins.includes(origin)
  if (allowed) res.setHeader('access-control-allow-origin', origin)
  if (req.method !== 'OPTIONS') return false
  if (origin !== undefined && !allowed) throw new ApiError(403, 'origin_not_allowed', `origin ${origin} is not in allowedOrigins`)
  if (allowed) {
    res.setHeader('access-control-allow-methods', corsMethods)
    res.setHeader('access-control-allow-headers', corsHeaders)
    res.setHeader('access-control-max-age', '600')
  }
  res.writeHead(204, {allow: corsMethods, 'cache-control': 'no-store'})
  res.end()
  return true
}
