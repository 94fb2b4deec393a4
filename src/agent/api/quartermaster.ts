import {randomBytes} from 'node:crypto'
import type {IncomingMessage, ServerResponse} from 'node:http'

import {formatProblem, UsageError} from '../../errors.js'
import type {ReplicaRow} from '../../scheduler/ps.js'
import type {StoreOptions} from '../options.js'
import {sealSecret, type KeyProvider} from '../../secrets/envelope.js'
import {validateServiceSpec} from '../../spec/service.js'
import {requestOrigin} from './audit-route.js'
import {tokenMatches} from './guard.js'
import {allowMethods, decodePathPart, readJson, sendJson, toApiError} from './http.js'
import {bodyObject, parseRun, QuartermasterError, RUN_PREFIX, statusWord} from './quartermaster-request.js'
import type {ApiDeps, QuartermasterDeps} from './deps.js'
import {DigestError} from '../../images/digest.js'
import {authCredentials} from '../store/pull-credentials.js'

/**
 * quartermaster's API on the admin API, as its clients call it: `POST /run`, `POST /stop`,
 * `GET /status/:id`, with the token in the body or the query (these routes only; the
 * bearer header of the other routes works too), and
 * every answer `{"success": true|false, …}`. A run is a stored replicated service (one
 * replica, worker machines), so the scheduler places it and that machine's agent runs it;
 * its registry auth is sealed as a service secret before anything is stored.
 */

/** The real deps for an agent with these options: its key provider, and the replicas from etcd when it has etcd. */
export function quartermasterDeps(store: StoreOptions, unitPrefix: string, key: () => Promise<KeyProvider>): QuartermasterDeps {
  if (store.kind !== 'etcd') return {key}
  const replicas = async (service: string): Promise<ReplicaRow[]> => {
    const [{RecordStore}, {readPsInputs, replicaRows}] = await Promise.all([import('../../etcd/records.js'), import('../../scheduler/ps.js')])
    // A connection per status request: it is a poll of one service, and nothing is left open.
    const records = await RecordStore.connect(store.endpoints)
    try {
      return replicaRows(await readPsInputs(records, store.prefix), unitPrefix, service, store.prefix)
    } finally {
      records.close()
    }
  }
  return {key, replicas}
}

const statusPath = /^\/status\/([^/]*)$/

/** True for the paths quartermaster's routes own. */
export function isQuartermasterPath(path: string): boolean {
  return path === '/run' || path === '/stop' || statusPath.test(path)
}

/** Answers one quartermaster request; returns the cause of a 5xx answer, for the agent's log only. */
export async function serveQuartermaster(req: IncomingMessage, res: ServerResponse, path: string, token: string, deps: ApiDeps): Promise<string | undefined> {
  try {
    const method = req.method ?? 'GET'
    const match = statusPath.exec(path)
    if (match) {
      allowMethods(method, ['GET'])
      req.resume() // quartermaster's README sends its /run body along with the GET: it is not read.
      authorize(undefined, req, token)
      const id = decodePathPart(match[1] ?? '')
      if (id === '') throw new QuartermasterError(400, 'service id missing: GET /status/ID?token=TOKEN')
      sendJson(res, 200, {success: true, id, status: await status(id, deps)})
      return undefined
    }
    allowMethods(method, ['POST'])
    const body = bodyObject(await readJson(req))
    authorize(body, req, token)
    const id = path === '/run' ? await run(body, req, deps) : await stop(body.id, req, deps)
    sendJson(res, 200, {success: true, id})
    return undefined
  } catch (error) {
    const answer = toAnswer(error)
    sendJson(res, answer.status, {success: false, code: answer.status, error: answer.message, ...(answer.id ? {id: answer.id} : {})}, answer.headers)
    return answer.status >= 500 ? answer.cause : undefined
  }
}

/**
 * The token from the body, else from `?token=`, else (berth's own CLI) from the
 * Authorization header as on every other route; compared in constant time.
 */
function authorize(body: Record<string, unknown> | undefined, req: IncomingMessage, token: string): void {
  const fromBody = body?.token
  const fromQuery = new URL(req.url ?? '/', 'http://agent').searchParams.get('token')
  const fromHeader = /^Bearer ([^\s]+)$/i.exec(req.headers.authorization ?? '')?.[1]
  const given = typeof fromBody === 'string' ? fromBody : fromQuery ?? fromHeader ?? ''
  if (!tokenMatches(given, token)) throw new QuartermasterError(401, 'Unauthorized: give the admin token as "token" in the body or ?token= in the URL')
}

/** Stores the run: its sealed auth first, then the service; a failure after the secret takes the secret back. */
async function run(body: Record<string, unknown>, req: IncomingMessage, deps: ApiDeps): Promise<string> {
  const request = parseRun(body, randomBytes(8).toString('hex'))
  let spec
  try {
    spec = await validateServiceSpec(request.spec)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    throw new QuartermasterError(400, error.problems.map(formatProblem).join('; '))
  }
  const origin = requestOrigin(req)
  const secret = request.spec.pullSecret
  if (request.auth && secret) {
    if (!deps.key) throw new QuartermasterError(400, 'this agent has no key provider to seal auth with; run without auth or configure secrets in its options')
    const blob = await sealSecret(secret, JSON.stringify(request.auth), await deps.key())
    await deps.store.putSealedSecret(secret, blob, origin)
  }
  try {
    // Pinned to its digest as every stored spec is, looked up with the run's own auth.
    if (deps.pin) spec = await deps.pin(spec, authCredentials(request.auth))
    await deps.store.putService(request.id, spec, origin)
  } catch (error) {
    if (secret) await deps.store.deleteSecret(secret, origin).catch(() => undefined)
    if (error instanceof DigestError) throw new QuartermasterError(422, `${error.message}; nothing was run`)
    throw error
  }
  await deps.requestSync()
  return request.id
}

/** Removes a run's service, then its sealed auth; returns the id. */
async function stop(id: unknown, req: IncomingMessage, deps: ApiDeps): Promise<string> {
  if (typeof id !== 'string' || id === '') throw new QuartermasterError(400, 'id missing: give the id /run answered')
  const spec = await runSpec(id, deps)
  const origin = requestOrigin(req)
  if (!(await deps.store.deleteService(id, origin))) throw notFound(id)
  if (spec.pullSecret) await deps.store.deleteSecret(spec.pullSecret, origin)
  await deps.requestSync()
  return id
}

/** quartermaster's word for where the run's one replica is. */
async function status(id: string, deps: ApiDeps): Promise<string> {
  await runSpec(id, deps)
  if (deps.replicas) {
    const rows = await deps.replicas(id).catch((error: unknown) => {
      // The service went between the two reads.
      if (error instanceof UsageError) throw notFound(id)
      throw error
    })
    return statusWord(rows[0])
  }
  const observed = await deps.observe(id)
  return statusWord(observed && {observed: observed.activeState})
}

/** The stored spec of a run; anything that is not a run is unknown here. */
async function runSpec(id: string, deps: ApiDeps): Promise<{pullSecret?: string}> {
  const spec = id.startsWith(RUN_PREFIX) ? (await deps.store.services()).get(id) : undefined
  if (!spec) throw notFound(id)
  return spec
}

function notFound(id: string): QuartermasterError {
  return new QuartermasterError(404, `Service not found: no run has id ${JSON.stringify(id.slice(0, 100))}`, id.slice(0, 100))
}

/** Any failure as quartermaster's answer: its refusals as they are, berth's own through the admin API's translation. */
function toAnswer(error: unknown): {status: number; message: string; id?: string; headers?: Record<string, string>; cause?: string} {
  if (error instanceof QuartermasterError) return {status: error.status, message: error.message, id: error.id}
  const answer = toApiError(error)
  const cause = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  return {status: answer.status, message: answer.message, headers: answer.headers, cause}
}
