import type {IncomingMessage, ServerResponse} from 'node:http'

import {claimProblem, type AuditOrigin, type AuditQuery} from '../../audit/entry.js'
import {serviceNameProblem} from '../../spec/service.js'
import type {AuditLog} from '../store/store.js'
import {ApiError, readJson, sendJson} from './http.js'

/**
 * The admin API's side of the audit trail: who a change came from, and `GET /v1/audit`.
 * The CLI names its host and user in two headers; they are recorded as its claim, beside
 * the address the server saw the request come from.
 */

/** The headers the CLI sends with every request, naming itself. */
export const CLAIM_HEADERS = {host: 'x-berth-client-host', user: 'x-berth-client-user'} as const

/** The origin of a change asked for by `req`; a claim header that is not a plain name is refused. */
export function requestOrigin(req: IncomingMessage): AuditOrigin {
  const origin: AuditOrigin = {via: 'api', address: req.socket.remoteAddress?.replace(/^::ffff:/, '')}
  for (const [field, header] of Object.entries(CLAIM_HEADERS) as Array<['host' | 'user', string]>) {
    const value = req.headers[header]
    if (value === undefined) continue
    const problem = typeof value === 'string' ? claimProblem(value) : 'must be given once'
    if (problem) throw new ApiError(400, 'bad_header', `${header} ${problem}`)
    origin.claimed = {...origin.claimed, [field]: value}
  }
  return origin
}

/** `GET /v1/audit?since=ISO-TIME&service=NAME`: the trail, oldest first. */
export async function serveAudit(req: IncomingMessage, res: ServerResponse, log: AuditLog): Promise<void> {
  if (req.method !== 'GET') throw new ApiError(405, 'method_not_allowed', 'use GET here', undefined, {allow: 'GET'})
  await readJson(req)
  sendJson(res, 200, {entries: await log.auditEntries(auditQuery(req.url ?? ''))})
}

function auditQuery(url: string): AuditQuery {
  const params = new URL(url, 'http://agent').searchParams
  const query: AuditQuery = {}
  for (const key of params.keys()) {
    if (key !== 'since' && key !== 'service') throw new ApiError(400, 'bad_query', `unknown query parameter ${JSON.stringify(key)}; use since and service`)
  }
  const since = params.get('since')
  if (since !== null) {
    const ms = Date.parse(since)
    if (Number.isNaN(ms)) throw new ApiError(400, 'bad_query', `since=${JSON.stringify(since)} is not a time; write an ISO time like 2026-12-01T08:00:00Z`)
    query.since = new Date(ms).toISOString()
  }
  const service = params.get('service')
  if (service !== null) {
    const problem = serviceNameProblem(service)
    if (problem) throw new ApiError(400, 'bad_name', `${problem.message}; ${problem.fix}`)
    query.service = service
  }
  return query
}
