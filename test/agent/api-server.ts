import {chmod, readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {execa} from 'execa'

import {startApi, type ApiOptions, type RunningApi} from '../../src/agent/api/server.js'
import type {ApiDeps} from '../../src/agent/api/deps.js'
import type {AgentStatus, ObservedService} from '../../src/agent/loop/status.js'
import type {DesiredStore} from '../../src/agent/store/store.js'
import {FileStore} from '../../src/agent/store/store-file.js'

/**
 * A real admin API on 127.0.0.1:0 with a self-signed certificate made by openssl, a token
 * file, a YAML file store and fakes for the executor's observe/status/sync.
 */

/** A self-signed certificate for 127.0.0.1 and its key, in `dir`. */
export async function selfSigned(dir: string): Promise<{certFile: string; keyFile: string; ca: Buffer}> {
  const certFile = path.join(dir, 'api.crt')
  const keyFile = path.join(dir, 'api.key')
  await execa('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=berth-agent test', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile])
  await chmod(keyFile, 0o600)
  return {certFile, keyFile, ca: await readFile(certFile)}
}

/** A token file with mode 0600. */
export async function tokenFile(dir: string, token: string): Promise<string> {
  const file = path.join(dir, 'api-token')
  await writeFile(file, `${token}\n`, {mode: 0o600})
  return file
}

/** A status as the agent's loop reports it (one converged pass), for the fake behind `GET /v1/status`. */
export const testStatus: AgentStatus = {
  machine: 'main-1',
  prefix: 'berth-',
  passes: 1,
  lastPass: {startedAt: '2026-01-01T00:00:00.000Z', durationMs: 12, actions: [], outcomes: {}, errors: [], drift: [], converged: true},
  watching: true,
  store: {reachable: true},
}

/** Everything a test needs to talk to a running API and look behind it. */
export interface TestApi extends RunningApi {
  token: string
  ca: Buffer
  dir: string
  storeFile: string
  store: DesiredStore
  syncs: number
  logs: string[]
  observed: Map<string, ObservedService>
}

/** Starts an API in `dir` that the caller closes; this module leaves node:test out, so a bench can use it. */
export async function startTestApi(dir: string, overrides: Partial<ApiOptions> & {store?: DesiredStore; deps?: Partial<ApiDeps>} = {}): Promise<TestApi> {
  const token = 'tok-0123456789abcdef0123456789abcdef'
  const {certFile, keyFile, ca} = await selfSigned(dir)
  const storeFile = path.join(dir, 'desired.yaml')
  const store = overrides.store ?? new FileStore(storeFile)
  const observed = new Map<string, ObservedService>()
  const state = {syncs: 0}
  const logs: string[] = []
  const deps: ApiDeps = {
    store,
    observe: async (name) => observed.get(name),
    status: () => testStatus,
    requestSync: () => { state.syncs++ },
    ...overrides.deps,
  }
  const {store: _store, deps: _deps, ...optionOverrides} = overrides
  const options: ApiOptions = {listen: '127.0.0.1:0', tokenFile: await tokenFile(dir, token), allowedOrigins: ['https://admin.example.com'], tls: {certFile, keyFile}, insecureHttp: false, ...optionOverrides}
  const api = await startApi({...deps, options, log: (line) => logs.push(line)})
  const result = Object.assign(api, {token, ca, dir, storeFile, store, logs, observed, syncs: 0})
  return Object.defineProperty(result, 'syncs', {get: () => state.syncs})
}
