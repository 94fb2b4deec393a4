import type {IncomingHttpHeaders} from 'node:http'
import {request, type Agent} from 'node:https'
import {after} from 'node:test'

import {scratch} from '../support/cli.js'
import {startTestApi, type TestApi} from './api-server.js'

export {selfSigned, startTestApi, testStatus, tokenFile, type TestApi} from './api-server.js'

/** Starts an API that is closed when the test file ends. */
export async function testApi(overrides: Parameters<typeof startTestApi>[1] = {}): Promise<TestApi> {
  const api = await startTestApi(await scratch('berth-api-'), overrides)
  after(() => api.close())
  return api
}

/** A raw HTTPS exchange, so tests control every header and byte. */
export interface Exchange {
  status: number
  headers: IncomingHttpHeaders
  text: string
  json: {error?: {code: string; message: string; problems?: Array<{path: string; message: string}>}} & Record<string, unknown>
}

/** Sends one request to the API trusting its certificate; `body` is sent as given. */
export function send(api: TestApi, method: string, path: string, options: {headers?: Record<string, string | number>; body?: string | Buffer; auth?: boolean; agent?: Agent} = {}): Promise<Exchange> {
  const headers = {...(options.auth === false ? {} : {authorization: `Bearer ${api.token}`}), ...options.headers}
  return new Promise((resolve, reject) => {
    const {hostname, port} = new URL(api.url)
    // A raw path: URL() would normalise `..` away before the server could refuse it.
    const req = request({hostname, port, path, method, headers, ca: api.ca, agent: options.agent}, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let json = {}
        try {
          json = text ? JSON.parse(text) : {}
        } catch {
          json = {}
        }
        resolve({status: res.statusCode ?? 0, headers: res.headers, text, json})
      })
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

/** Sends `value` as a JSON body. */
export function sendJsonBody(api: TestApi, method: string, path: string, value: unknown, headers: Record<string, string> = {}): Promise<Exchange> {
  return send(api, method, path, {body: JSON.stringify(value), headers: {'content-type': 'application/json', ...headers}})
}
