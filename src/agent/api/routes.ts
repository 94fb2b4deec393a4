import type {IncomingMessage, ServerResponse} from 'node:http'

import {UsageError, formatProblem} from '../../errors.js'
import {DigestError} from '../../images/digest.js'
import {pullCredentials} from '../store/pull-credentials.js'
import {validateServiceSpec, type ServiceSpec} from '../../spec/service.js'
import {requestOrigin, serveAudit} from './audit-route.js'
import {allowMethods, ApiError, readJson, sendJson, serviceInPath} from './http.js'
import type {ApiDeps} from './deps.js'

const servicePath = /^\/v1\/services\/([^/]*)$/

/** Answers one authenticated request; throws ApiError for every 4xx. */
export async function route(req: IncomingMessage, res: ServerResponse, path: string, deps: ApiDeps): Promise<void> {
  const method = req.method ?? 'GET'
  if (path === '/v1/services') {
    allowMethods(method, ['GET'])
    const services = await deps.store.services()
    return sendJson(res, 200, {services: [...services].map(([name, spec]) => ({name, spec}))})
  }
  const match = servicePath.exec(path)
  if (match) {
    allowMethods(method, ['GET', 'PUT', 'DELETE'])
    const name = serviceInPath(match[1] ?? '')
    if (method === 'PUT') return putService(req, res, name, deps)
    await noBody(req)
    if (method === 'DELETE') {
      if (!(await deps.store.deleteService(name, requestOrigin(req)))) throw notFound(name)
      await deps.requestSync()
      return sendJson(res, 200, {deleted: name})
    }
    const spec = (await deps.store.services()).get(name)
    if (!spec) throw notFound(name)
    const observed = await deps.observe(name).then((o) => o ?? null, (error: Error) => ({error: error.message}))
    return sendJson(res, 200, {name, spec, observed})
  }
  if (path === '/v1/status') {
    allowMethods(method, ['GET'])
    return sendJson(res, 200, await deps.status())
  }
  if (path === '/v1/audit') return serveAudit(req, res, deps.store)
  if (path === '/metrics' && deps.metrics) {
    allowMethods(method, ['GET'])
    const {contentType, body} = await deps.metrics()
    res.writeHead(200, {'content-type': contentType, 'cache-control': 'no-store'}).end(body)
    return
  }
  if (path === '/v1/sync') {
    allowMethods(method, ['POST'])
    await noBody(req)
    await deps.requestSync()
    return sendJson(res, 202, {accepted: true})
  }
  throw new ApiError(404, 'not_found', `no such endpoint: ${method} ${path}`)
}

async function putService(req: IncomingMessage, res: ServerResponse, name: string, deps: ApiDeps): Promise<void> {
  const origin = requestOrigin(req)
  const body = await readJson(req)
  if (body === undefined) throw new ApiError(400, 'invalid_spec', 'the body must be a service spec as JSON')
  let spec
  try {
    spec = await validateServiceSpec(body)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    throw new ApiError(400, 'invalid_spec', `service ${name}: ${error.problems.map(formatProblem).join('; ')}`, error.problems)
  }
  spec = await pinned(spec, name, deps)
  await deps.store.putService(name, spec, origin)
  await deps.requestSync()
  sendJson(res, 200, {name, spec})
}

/** The spec pinned to its image's digest (with its pull secret's credentials); a tag that does not resolve is a 422 and nothing is stored. */
async function pinned(spec: ServiceSpec, name: string, deps: ApiDeps): Promise<ServiceSpec> {
  if (!deps.pin) return spec
  try {
    return await deps.pin(spec, await pullCredentials(spec, deps.store, deps.key))
  } catch (error) {
    if (!(error instanceof DigestError)) throw error
    throw new ApiError(422, 'image_unresolved', `service ${name}: ${error.message}; nothing was changed`)
  }
}

/** A body where none is expected must still be JSON, and is read only to enforce the limits. */
async function noBody(req: IncomingMessage): Promise<void> {
  await readJson(req)
}

function notFound(name: string): ApiError {
  return new ApiError(404, 'not_found', `there is no service ${name}`)
}
