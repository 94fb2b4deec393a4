import type {IncomingMessage, ServerResponse} from 'node:http'

import {allowMethods, serviceInPath} from './http.js'
import type {ApiDeps} from './deps.js'

/**
 * `GET /v1/ready/<service>`, without the token: the health check a balancer berth does not
 * drive points at. 200 while this machine's copy of the service is healthy and not
 * draining, 503 otherwise (starting, unhealthy, draining before a stop, or no copy here);
 * the body is the one word, nothing else about the service, so an unauthenticated caller
 * learns no more than the balancer needs.
 */

const READY_PATH = /^\/v1\/ready\/([^/]*)$/

/** The service a readiness path names, or undefined when the path is not the readiness route. */
export function readinessPath(path: string): string | undefined {
  return READY_PATH.exec(path)?.[1]
}

/** Answers the readiness route; throws ApiError for a bad method or name. */
export function serveReadiness(req: IncomingMessage, res: ServerResponse, raw: string, deps: Pick<ApiDeps, 'readiness'>): void {
  allowMethods(req.method ?? '', ['GET', 'HEAD'])
  const name = serviceInPath(raw)
  const ready = deps.readiness?.(req.socket.remoteAddress ?? '', name) === 'ready'
  const body = ready ? 'ready\n' : 'not ready\n'
  res.writeHead(ready ? 200 : 503, {'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'x-content-type-options': 'nosniff'})
  res.end(req.method === 'HEAD' ? undefined : body)
}
