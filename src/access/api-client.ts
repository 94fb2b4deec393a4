import {request as httpRequest, type IncomingMessage} from 'node:http'
import {request as httpsRequest} from 'node:https'

import {cliClaim, type AuditEntry, type AuditQuery} from '../audit/entry.js'
import {BerthError, RetryableError, UsageError, type Problem} from '../errors.js'
import type {ServiceSpec} from '../spec/service.js'
import {CLAIM_HEADERS} from '../agent/api/audit-route.js'
import type {ObservedService} from '../agent/loop/status.js'

/** How to reach an agent's admin API. */
export interface ApiClientOptions {
  url: string
  token: string
  /** PEM certificate(s) to trust, for the agent's self-signed certificate. */
  ca?: Buffer
  /** Skip certificate checks altogether (the caller warns about it). */
  insecureSkipVerify?: boolean
}

/** A service as GET /v1/services/{name} returns it. */
export interface ServiceDetail {
  name: string
  spec: ServiceSpec
  observed: ObservedService | {error: string} | null
}

/** The API answered with an error; 4xx answers about the input become UsageErrors instead. */
export class ApiRequestError extends BerthError {
  constructor(message: string, readonly status: number, readonly code: string) {
    super(message)
  }
}

/**
 * The admin API's client, on node:http(s) so a private CA can be trusted per request.
 * The token goes only into the Authorization header and never into a message.
 */
export class ApiClient {
  constructor(private readonly options: ApiClientOptions) {}

  /** The API's origin, as messages name it. */
  get url(): string {
    return this.options.url
  }

  /** Resolves when the agent answers its health check within `timeoutMs`. */
  async health(timeoutMs = 30_000): Promise<void> {
    const {status} = await this.#send('GET', '/v1/health', undefined, timeoutMs)
    if (status !== 200) throw new ApiRequestError(`${this.options.url}: health check answered ${status}`, status, 'unhealthy')
  }

  /** Every desired service. */
  async services(): Promise<Array<{name: string; spec: ServiceSpec}>> {
    return ((await this.#call('GET', '/v1/services')) as {services: Array<{name: string; spec: ServiceSpec}>}).services
  }

  /** One service with its observed state. */
  async service(name: string): Promise<ServiceDetail> {
    return (await this.#call('GET', `/v1/services/${encodeURIComponent(name)}`)) as ServiceDetail
  }

  /** Creates or replaces a service; returns the spec with defaults as stored. */
  async putService(name: string, spec: unknown): Promise<ServiceSpec> {
    return ((await this.#call('PUT', `/v1/services/${encodeURIComponent(name)}`, spec, `services/${name}`)) as {spec: ServiceSpec}).spec
  }

  /** Deletes a service; an unknown name is an ApiRequestError with status 404. */
  async deleteService(name: string): Promise<void> {
    await this.#call('DELETE', `/v1/services/${encodeURIComponent(name)}`)
  }

  /** The audit trail, oldest first. */
  async audit(query: AuditQuery = {}): Promise<AuditEntry[]> {
    const params = new URLSearchParams(Object.entries(query).filter((e): e is [string, string] => e[1] !== undefined))
    const search = params.size > 0 ? `?${params}` : ''
    return ((await this.#call('GET', `/v1/audit${search}`)) as {entries: AuditEntry[]}).entries
  }

  /**
   * One of quartermaster's routes (`POST /run`, `POST /stop`, `GET /status/ID`), whose
   * answers are `{success, …}`; the token goes in the header, as everywhere.
   */
  async quartermaster(method: 'GET' | 'POST', path: string, body?: Record<string, unknown>): Promise<{success: true; id: string; status?: string}> {
    const {status, json} = await this.#send(method, path, body)
    const answer = json as {success?: boolean; id?: string; error?: string} | undefined
    if (status === 200 && answer?.success === true) return answer as {success: true; id: string; status?: string}
    const message = answer?.error ?? `HTTP ${status}`
    if (status === 400) throw new UsageError(message)
    if (status === 503) throw new RetryableError(`${this.options.url}: ${message}`)
    throw new ApiRequestError(`${this.options.url}: ${message}${status === 401 ? '; check the token file' : ''}`, status, 'quartermaster')
  }

  async #call(method: string, path: string, body?: unknown, where?: string): Promise<unknown> {
    const {status, json} = await this.#send(method, path, body)
    if (status >= 200 && status < 300) return json
    const error = (json as {error?: {code?: string; message?: string; problems?: Problem[]}} | undefined)?.error
    const message = error?.message ?? `HTTP ${status}`
    if (status === 400 && error?.problems) throw new UsageError(error.problems.map((p) => ({...p, path: [where, p.path].filter(Boolean).join('/')})))
    if (status === 400) throw new UsageError(message)
    if (status === 401) throw new ApiRequestError(`${this.options.url}: ${message}; check the token file`, status, error?.code ?? 'unauthorized')
    if (status === 503) throw new RetryableError(`${this.options.url}: ${message}`)
    throw new ApiRequestError(`${this.options.url}: ${message}`, status, error?.code ?? 'error')
  }

  #send(method: string, path: string, body?: unknown, timeoutMs = 30_000): Promise<{status: number; json: unknown}> {
    const url = new URL(path, this.options.url)
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const headers: Record<string, string | number> = {authorization: `Bearer ${this.options.token}`, accept: 'application/json'}
    // Who is asking, for the audit trail: the agent records it as claimed, beside the address it sees.
    const claim = cliClaim()
    if (claim.host) headers[CLAIM_HEADERS.host] = claim.host
    if (claim.user) headers[CLAIM_HEADERS.user] = claim.user
    if (payload) Object.assign(headers, {'content-type': 'application/json', 'content-length': payload.length})
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest
    return new Promise((resolve, reject) => {
      const req = send(url, {method, headers, ca: this.options.ca, rejectUnauthorized: !this.options.insecureSkipVerify, timeout: timeoutMs}, (res) => {
        readAll(res).then((text) => {
          let json: unknown
          try {
            json = text ? JSON.parse(text) : undefined
          } catch {
            json = undefined
          }
          resolve({status: res.statusCode ?? 0, json})
        }, reject)
      })
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)))
      req.on('error', (error: NodeJS.ErrnoException) => reject(connectError(this.options.url, error)))
      req.end(payload)
    })
  }
}

async function readAll(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of res as AsyncIterable<Buffer>) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}

function connectError(url: string, error: NodeJS.ErrnoException): BerthError {
  const reason = error.code ?? error.message
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(reason)) {
    return new BerthError(`${url}: the certificate is not trusted (${reason}); pass --ca with the agent's certificate`, {cause: error})
  }
  return new RetryableError(`cannot reach the admin API at ${url} (${reason}); is berth-agent running there?`, {cause: error})
}
