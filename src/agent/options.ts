import {readFile, stat} from 'node:fs/promises'
import {hostname} from 'node:os'
import path from 'node:path'
import * as Flags from '@oclif/core/flags'

import {UsageError, type Problem} from '../errors.js'
import {ETCD_PREFIX} from '../layout/records.js'
import {optionsSchemaProblems} from './options-schema.js'
import type {MachineRole} from '../spec/service.js'
import {NODE_PATHS} from '../layout/node.js'

/** Where desired state lives, as the options file names it. */
export type StoreOptions =
  | {kind: 'etcd'; endpoints: string[]; prefix: string}
  | {kind: 'postgres'; url: string}
  | {kind: 'file'; path: string}

/** Which key provider seals service secrets. */
export type SecretsOptions =
  | {kind: 'local'; masterKeyFile: string}
  | {kind: 'kms'; keyId: string; region?: string; endpoint?: string}

/** berth-agent's options with every default filled in and every path absolute. */
export interface AgentOptions {
  /** The options file they came from, for messages. */
  file: string
  listen: string
  store: StoreOptions
  tokenFile: string
  allowedOrigins: string[]
  /** Absent only when `insecureHttp` is set (and `listen` is loopback). */
  tls?: {certFile: string; keyFile: string}
  insecureHttp: boolean
  secrets: SecretsOptions
  unitPrefix: string
  unitDir: string
  machine: string
  role: MachineRole
  resyncSeconds: number
  /** Prometheus metrics: on the admin API as GET /metrics (also when absent), or on a listen address of their own. */
  metrics?: {enabled: boolean; listen?: string}
  /** HAProxy's agent-check (src/agent/drain/agent-check.ts); absent: not served. */
  agentCheck?: {listen: string}
  /** This machine's labels, for the scheduler. */
  labels?: Record<string, string>
  /** What it offers to reservations; measured when absent. */
  capacity?: {memoryMb?: number; cpus?: number}
  /** Seconds replicas keep running without etcd. */
  offlineGraceSeconds?: number
  /** The scheduler's settings; main machines with etcd campaign to run it. */
  scheduler?: {lostAfterSeconds: number}
  /** Scheduled etcd snapshots, on main machines (src/recovery/schedule.ts). */
  snapshots?: {dir: string; cluster: string; intervalSeconds: number; keep: number}
}

/** `--options FILE` (or BERTH_AGENT_OPTIONS), shared by the agent and `berth secrets`. */
export const optionsFlag = Flags.string({
  description: 'berth-agent options file (JSON): store, secrets backend, listen address, token file.',
  env: 'BERTH_AGENT_OPTIONS',
  required: true,
})

/**
 * Seconds a machine's agent record may be gone before the scheduler places its replicas
 * elsewhere. A node that stops politely revokes its record at once, so a replica runs
 * elsewhere about this long after (the aim: under 10 s); an agent that restarts
 * is back within it, so a restart moves nothing. (A crash adds the lease's 15 s TTL.)
 */
export const LOST_AFTER_SECONDS = 5
/**
 * Seconds replicas keep running after the agent last reached etcd: its record's lease TTL.
 * By then the record has expired, and the scheduler waits lostAfter more before a
 * replacement starts, so a partition does not run a singleton twice.
 */
export const OFFLINE_GRACE_SECONDS = 15

// Node secrets live here with mode 0600, uploaded once per machine (DESIGN.md, Secrets).
const secretsDir = NODE_PATHS.secrets
// Keys that look like someone put the token itself in the file: refused with a pointed fix.
const inlineTokenKeys = ['token', 'adminToken', 'authToken', 'apiToken']

/** Splits `HOST:PORT` (IPv6 in brackets) into what net.listen takes. */
export function parseListen(listen: string): {host: string; port: number} {
  const at = listen.lastIndexOf(':')
  const host = listen.slice(0, at).replace(/^\[(.*)\]$/, '$1')
  return {host, port: Number(listen.slice(at + 1))}
}

/** True when `host` is a loopback address or name, the only place plain HTTP is allowed. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host)
}

/** Reads, validates and completes the options file; every problem is reported at once with the file and path. */
export async function loadAgentOptions(file: string): Promise<AgentOptions> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError([{file, message: `cannot read the options file (${error.code ?? error.message})`, fix: 'pass --options FILE or set BERTH_AGENT_OPTIONS'}])
  })
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (error) {
    throw new UsageError([{file, message: `is not valid JSON: ${(error as Error).message}`, fix: 'the options file is one JSON object'}])
  }
  return agentOptionsFrom(raw, file)
}

/** Validates an already parsed options object (`file` names it in messages and anchors relative paths). */
export async function agentOptionsFrom(raw: unknown, file: string): Promise<AgentOptions> {
  const inline = typeof raw === 'object' && raw !== null ? inlineTokenKeys.filter((k) => k in raw) : []
  const problems: Problem[] = inline.map((key) => ({file, path: key, message: 'the admin token must not be in the options file', fix: 'write it to a file with mode 0600 and name that file in tokenFile'}))
  problems.push(...(await optionsSchemaProblems(raw, file)).filter((p) => !inline.includes(p.path ?? '')))
  if (problems.length > 0) throw new UsageError(problems)
  const o = raw as Partial<AgentOptions> & {store?: Partial<StoreOptions>}
  const listen = o.listen ?? '0.0.0.0:8443'
  const insecureHttp = o.insecureHttp === true
  if (insecureHttp && !isLoopback(parseListen(listen).host)) {
    problems.push({file, path: 'insecureHttp', message: `plain HTTP is allowed only on a loopback address, and listen is ${listen}`, fix: 'listen on 127.0.0.1 or give tls: {certFile, keyFile}'})
  }
  if (insecureHttp && o.tls) problems.push({file, path: 'tls', message: 'tls and insecureHttp exclude each other', fix: 'remove one of them'})
  if (o.metrics?.listen !== undefined && parseListen(o.metrics.listen).port === parseListen(listen).port && parseListen(o.metrics.listen).port !== 0) {
    problems.push({file, path: 'metrics/listen', message: `${o.metrics.listen} takes the admin API's port (listen is ${listen})`, fix: 'give the metrics another port, or leave metrics/listen out to serve GET /metrics on the admin API'})
  }
  if (o.agentCheck !== undefined && parseListen(o.agentCheck.listen).port === parseListen(listen).port && parseListen(o.agentCheck.listen).port !== 0) {
    problems.push({file, path: 'agentCheck/listen', message: `${o.agentCheck.listen} takes the admin API's port (listen is ${listen})`, fix: 'give the agent-check another port, like 8444'})
  }
  if (problems.length > 0) throw new UsageError(problems)

  const at = (p: string): string => path.resolve(path.dirname(path.resolve(file)), p)
  const store: StoreOptions = {...(o.store as StoreOptions | undefined) ?? {kind: 'file', path: NODE_PATHS.desiredFile}}
  if (store.kind === 'file') store.path = at(store.path)
  if (store.kind === 'etcd') store.prefix ??= ETCD_PREFIX
  const secrets: SecretsOptions = {...o.secrets ?? {kind: 'local', masterKeyFile: `${secretsDir}/master.key`}}
  if (secrets.kind === 'local') secrets.masterKeyFile = at(secrets.masterKeyFile)
  const tls = insecureHttp ? undefined : o.tls ?? {certFile: `${secretsDir}/api.crt`, keyFile: `${secretsDir}/api.key`}
  return {
    file, listen, store, secrets, insecureHttp,
    tokenFile: at(o.tokenFile ?? `${secretsDir}/api-token`),
    allowedOrigins: o.allowedOrigins ?? [],
    tls: tls && {certFile: at(tls.certFile), keyFile: at(tls.keyFile)},
    unitPrefix: o.unitPrefix ?? 'berth-',
    unitDir: o.unitDir ?? '/etc/systemd/system',
    machine: o.machine ?? hostname().split('.')[0]!.toLowerCase(),
    role: o.role ?? 'main',
    resyncSeconds: o.resyncSeconds ?? 30,
    metrics: {enabled: o.metrics?.enabled ?? true, ...(o.metrics?.listen === undefined ? {} : {listen: o.metrics.listen})},
    labels: o.labels ?? {},
    ...(o.agentCheck ? {agentCheck: {listen: o.agentCheck.listen}} : {}),
    ...(o.capacity ? {capacity: o.capacity} : {}),
    offlineGraceSeconds: o.offlineGraceSeconds ?? OFFLINE_GRACE_SECONDS,
    scheduler: o.scheduler ?? {lostAfterSeconds: LOST_AFTER_SECONDS},
    ...(o.snapshots ? {snapshots: {...o.snapshots, dir: at(o.snapshots.dir)}} : {}),
  }
}

/** Reads the admin token from its file, refusing a file others may read or a token too short to resist guessing. */
export async function readToken(file: string): Promise<string> {
  const mode = await stat(file).then((s) => s.mode & 0o777, (error: NodeJS.ErrnoException) => {
    throw new UsageError([{file, message: `cannot read the admin token (${error.code ?? error.message})`, fix: 'create it with: openssl rand -hex 32 > FILE && chmod 600 FILE'}])
  })
  if ((mode & 0o077) !== 0) throw new UsageError([{file, message: `mode ${mode.toString(8).padStart(4, '0')} lets others read the admin token`, fix: `run chmod 600 ${file}`}])
  const token = (await readFile(file, 'utf8')).trim()
  if (token.length < 16 || /\s/.test(token)) {
    throw new UsageError([{file, message: 'the admin token must be one line of at least 16 characters without spaces', fix: 'create one with: openssl rand -hex 32'}])
  }
  return token
}
