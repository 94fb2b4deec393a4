import {readFile} from 'node:fs/promises'

import {cliOrigin, type AuditOrigin} from '../../audit/entry.js'
import {UsageError, type Problem} from '../../errors.js'
import {sealSecret, type KeyProvider} from '../../secrets/envelope.js'
import {KmsKeyProvider} from '../../secrets/kms.js'
import {LocalKeyProvider} from '../../secrets/local-key.js'
import {envLineProblem} from '../../spec/env-file.js'
import type {SecretsOptions, StoreOptions} from '../options.js'
import {secretNameProblem, validateSecretName} from './secret-name.js'
import {openStore} from './store-open.js'
import type {DesiredStore} from './store.js'

/**
 * Service secrets as operators handle them: named values sealed in this process (envelope
 * encryption) before they reach any store, listed by name only. Messages name a secret,
 * never its value.
 */

/** The key provider the options name: the local master key file or AWS KMS. */
export async function openKeyProvider(options: SecretsOptions): Promise<KeyProvider> {
  if (options.kind === 'local') return LocalKeyProvider.fromFile(options.masterKeyFile)
  // The SDK warns on every run under Node 20 about releases after January 2027; berth pins
  // a version that supports Node 20, so the warning is only noise in every command's output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  return new KmsKeyProvider({keyId: options.keyId, region: options.region, endpoint: options.endpoint})
}

/** Why `value` cannot be a secret (it must fit one env-file line), or undefined. */
function valueProblem(name: string, value: string, where: Omit<Problem, 'message'> = {}): Problem | undefined {
  if (value === '') return {...where, message: `secret ${name} is empty`, fix: 'pipe the value on stdin or use --from-file'}
  const problem = envLineProblem(name, value)
  return problem === undefined ? undefined : {...where, message: `the value of secret ${name} ${problem}`, fix: 'store it base64-encoded and decode it in the container'}
}

/**
 * Seals `value` for `name` and stores the blob; the clear value never leaves this process.
 * The audit entry (by `origin`, the CLI by default) names the secret only.
 */
export async function setSecret(store: DesiredStore, provider: KeyProvider, name: string, value: string, origin: AuditOrigin = cliOrigin()): Promise<void> {
  validateSecretName(name)
  const problem = valueProblem(name, value)
  if (problem) throw new UsageError([problem])
  await store.putSealedSecret(name, await sealSecret(name, value, provider), origin)
}

/**
 * Imports a JSON object of name → value (the seed's `set-secrets`). Every name and value is
 * checked first and every secret sealed before the first is stored, so bad input stores nothing.
 */
export async function importSecrets(store: DesiredStore, provider: KeyProvider, file: string, origin: AuditOrigin = cliOrigin()): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError([{file, message: `cannot read it (${error.code ?? error.message})`}])
  })
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    // The parser's message quotes the text around the error, which may be a secret value.
    throw new UsageError([{file, message: 'is not valid JSON', fix: 'write one object of NAME: "value" pairs'}])
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError([{file, message: 'must be a JSON object of NAME: "value" pairs'}])
  }
  const entries = Object.entries(parsed as Record<string, unknown>)
  const problems: Problem[] = []
  for (const [name, value] of entries) {
    const nameProblem = secretNameProblem(name, {file, path: name})
    if (nameProblem) problems.push(nameProblem)
    else if (typeof value !== 'string') problems.push({file, path: name, message: `must be a string, not ${Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`}`})
    else {
      const problem = valueProblem(name, value, {file, path: name})
      if (problem) problems.push(problem)
    }
  }
  if (entries.length === 0) problems.push({file, message: 'holds no secrets'})
  if (problems.length > 0) throw new UsageError(problems)
  const sealed = await Promise.all(entries.map(async ([name, value]) => [name, await sealSecret(name, value as string, provider)] as const))
  for (const [name, blob] of sealed) await store.putSealedSecret(name, blob, origin)
  return sealed.map(([name]) => name).sort()
}

/**
 * Opens the store, runs `use`, and closes the store whatever happens: what every `berth
 * secrets` command does around its one call. The key provider is opened only when asked
 * for, so listing and removing need no master key.
 */
export async function withSecretsBackend<T>(backend: {store: StoreOptions; secrets: SecretsOptions}, use: (store: DesiredStore, key: () => Promise<KeyProvider>) => Promise<T>): Promise<T> {
  const store = openStore(backend.store)
  try {
    return await use(store, () => openKeyProvider(backend.secrets))
  } finally {
    await store.close()
  }
}

/**
 * Reads a secret's value from a file or from stdin (never argv, which `ps` shows). One
 * trailing line break is dropped, as `echo` and editors add it; a terminal is refused
 * because typing there would echo the value.
 */
export async function readSecretValue(fromFile?: string): Promise<string> {
  let text: string
  if (fromFile !== undefined) {
    text = await readFile(fromFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new UsageError([{file: fromFile, message: `cannot read it (${error.code ?? error.message})`}])
    })
  } else {
    if (process.stdin.isTTY) throw new UsageError('pipe the secret on stdin (printf %s "$VALUE" | berth secrets set NAME) or use --from-file')
    const chunks: Buffer[] = []
    for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk)
    text = Buffer.concat(chunks).toString('utf8')
  }
  return text.replace(/\r?\n$/, '')
}
