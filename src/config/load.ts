import {readFile} from 'node:fs/promises'
import {homedir} from 'node:os'
import path from 'node:path'
import {CORE_SCHEMA, load as fastLoad} from 'js-yaml'

import {type Problem, UsageError} from '../errors.js'
import {schemaProblems} from '../schema.js'
import {buildProblems, splitBuilds} from './build.js'
import {semanticProblems, serviceProblems} from './checks.js'
import {arrayOf, type Cluster, type ClusterDocument, DEFAULTS, SCHEDULER_DEFAULTS, SNAPSHOT_DEFAULTS} from './types.js'

/** A loaded cluster and the warnings worth showing (an even number of etcd members, say). */
export interface Loaded {
  cluster: Cluster
  warnings: string[]
}

/**
 * Reads and validates cluster.yaml. Every problem is reported at once, each with the file,
 * the path inside it and a fix; a YAML syntax error names its line and column.
 */
export async function loadClusterFile(file: string): Promise<Loaded> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError([{file, message: `cannot read it (${error.code ?? error.message})`, fix: 'create one with `berth cluster init`'}])
  })
  return parseCluster(text, file)
}

/** Validates cluster.yaml's text; `file` is used in messages and to resolve key files. */
export async function parseCluster(text: string, file: string): Promise<Loaded> {
  const value = await parseYaml(text, file)
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new UsageError([{file, message: 'must be a mapping with name, registry, ssh and machines', fix: 'start from `berth cluster init`'}])
  }
  return resolveCluster(value as ClusterDocument, file)
}

/**
 * YAML 1.2 (core schema) to a plain value. js-yaml reads a well-formed file about five
 * times faster than `yaml` (which matters for a 1,000-machine cluster.yaml); a file it
 * rejects is read again by `yaml`, which reports every syntax error and duplicate key at
 * once, each with its line and column.
 */
async function parseYaml(text: string, file: string): Promise<unknown> {
  let fastError: {message: string; line: number; col: number}
  try {
    return fastLoad(text, {schema: CORE_SCHEMA, filename: file})
  } catch (error) {
    const {reason, mark} = error as {reason?: string; mark?: {line: number; column: number}}
    fastError = {message: reason ?? String(error), line: (mark?.line ?? 0) + 1, col: (mark?.column ?? 0) + 1}
  }
  const {parseDocument} = await import('yaml')
  const doc = parseDocument(text, {prettyErrors: true, uniqueKeys: true})
  const problems: Problem[] = doc.errors.length > 0
    ? doc.errors.map((e) => {
      const pos = e.linePos?.[0]
      const message = (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '')
      return {file: pos ? `${file}:${pos.line}:${pos.col}` : file, message, fix: 'fix the YAML syntax'}
    })
    : [{file: `${file}:${fastError.line}:${fastError.col}`, message: fastError.message, fix: 'fix the YAML syntax'}]
  throw new UsageError(problems)
}

/**
 * Checks a document against the schema and the semantic rules, reporting every problem
 * of both at once, and returns it with the defaults applied.
 */
export async function resolveCluster(document: ClusterDocument, file?: string): Promise<Loaded> {
  const problems = await schemaProblems('urn:berth:cluster', document, file)
  problems.push(...await serviceProblems(document, file, problems))
  problems.push(...await buildProblems(document.services, file))
  const semantic = semanticProblems(document, file)
  problems.push(...semantic.problems)
  const keys = await authorizedKeys(document, file, problems)
  if (problems.length > 0) throw new UsageError(problems)
  const warnings = semantic.warnings
  const {services, builds} = splitBuilds(document.services ?? {}, file)
  const cluster: Cluster = {
    file,
    name: document.name,
    unitPrefix: document.unitPrefix ?? DEFAULTS.unitPrefix,
    registry: {url: document.registry.url, insecure: document.registry.insecure ?? true},
    installer: {image: document.installer?.image ?? DEFAULTS.installerImage},
    ssh: {
      user: document.ssh.user ?? DEFAULTS.sshUser,
      authorizedKeys: keys,
      keyFiles: arrayOf(document.ssh.authorizedKeyFiles).map((f) => configPath(file, f)),
    },
    etcd: {
      clientPort: document.etcd?.clientPort ?? DEFAULTS.clientPort,
      peerPort: document.etcd?.peerPort ?? DEFAULTS.peerPort,
      token: document.etcd?.token ?? `${document.name}-etcd`,
      snapshots: {...SNAPSHOT_DEFAULTS, ...document.etcd?.snapshots},
    },
    nodeSecrets: nodeSecrets(document),
    scheduler: {...SCHEDULER_DEFAULTS, ...document.scheduler},
    machines: document.machines.map((m) => ({name: m.name, ip: m.ip, role: m.role, labels: m.labels ?? {}})),
    services,
    builds,
  }
  return {cluster, warnings}
}

/** The node-secrets setting with its default; the KMS key is kept only for mode kms (checks.ts refuses it elsewhere). */
function nodeSecrets(document: ClusterDocument): Cluster['nodeSecrets'] {
  const mode = document.nodeSecrets?.mode ?? DEFAULTS.nodeSecretsMode
  const kms = document.nodeSecrets?.kms
  return mode === 'kms' && kms ? {mode, kms} : {mode}
}

const PUBLIC_KEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n\r]*)?$/

/** Gathers the inline keys and the key files' keys, adding a problem for each bad one. */
async function authorizedKeys(document: ClusterDocument, file: string | undefined, problems: Problem[]): Promise<string[]> {
  const keys: string[] = []
  const ssh = document.ssh ?? {}
  for (const [i, key] of arrayOf(ssh.authorizedKeys).entries()) {
    if (typeof key === 'string' && PUBLIC_KEY.test(key.trim())) keys.push(key.trim())
    else problems.push({file, path: `ssh/authorizedKeys/${i}`, message: 'is not an OpenSSH public key', fix: 'paste one line of an id_*.pub file'})
  }
  for (const [i, keyFile] of arrayOf(ssh.authorizedKeyFiles).entries()) {
    if (typeof keyFile !== 'string') continue
    const where = {file, path: `ssh/authorizedKeyFiles/${i}`}
    const text = await readFile(configPath(file, keyFile), 'utf8').catch((error: NodeJS.ErrnoException) => {
      problems.push({...where, message: `cannot read ${keyFile} (${error.code ?? error.message})`, fix: 'point it at a readable public key file'})
      return undefined
    })
    if (text === undefined) continue
    const lines = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    const bad = lines.filter((l) => !PUBLIC_KEY.test(l))
    if (lines.length === 0 || bad.length > 0) {
      problems.push({...where, message: `${keyFile} does not hold OpenSSH public keys only`, fix: 'use the .pub file, never the private key'})
    } else keys.push(...lines)
  }
  if (keys.length === 0 && problems.every((p) => !p.path?.startsWith('ssh/'))) {
    problems.push({file, path: 'ssh', message: 'no authorized key', fix: 'add ssh/authorizedKeyFiles: [~/.ssh/id_ed25519.pub] or ssh/authorizedKeys'})
  }
  return keys
}

/**
 * A path written in cluster.yaml: `~` and `~/…` are the user's home (as a shell would
 * read them), anything else relative to the file's folder.
 */
export function configPath(file: string | undefined, written: string): string {
  if (written === '~' || written.startsWith('~/')) return path.join(homedir(), written.slice(1))
  return path.resolve(file ? path.dirname(file) : process.cwd(), written)
}

