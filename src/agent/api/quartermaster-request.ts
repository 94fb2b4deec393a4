import type {RegistryAuth} from '../node/node-ops.js'
import type {ServiceSpecInput} from '../../spec/service.js'
import type {ReplicaRow} from '../../scheduler/ps.js'

/**
 * quartermaster's requests as pure data: a `/run` body becomes a replicated service spec
 * (one replica on a worker machine) and, when it carries `auth`, the Docker auth object to
 * seal; `/status` words come from the replica's observed state. quartermaster is an HTTP
 * API that ran containers on any node of a Docker swarm (github.com/stevelacy/quartermaster);
 * its clients send the same bodies to every agent's admin API.
 */

/** A refusal in quartermaster's shape: the status and the sentence of `{"success": false, "error": …}`. */
export class QuartermasterError extends Error {
  constructor(readonly status: number, message: string, readonly id?: string) {
    super(message)
  }
}

/** Every service `/run` makes is named `run-…`; `/stop` and `/status` touch no other. */
export const RUN_PREFIX = 'run-'

/** What `/run` asks for, checked: the service to store under `id`, and the registry auth to seal. */
export interface RunRequest {
  id: string
  spec: ServiceSpecInput
  auth?: RegistryAuth
}

const authFields = ['username', 'password', 'serveraddress', 'email', 'identitytoken', 'auth'] as const

/** The request body as an object, or a 400 naming what it is instead. */
export function bodyObject(body: unknown): Record<string, unknown> {
  if (body === undefined) throw new QuartermasterError(400, 'the body must be a JSON object with token and the request\'s fields')
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new QuartermasterError(400, 'the body must be a JSON object, not ' + describe(body))
  return body as Record<string, unknown>
}

/**
 * Checks a `/run` body (after its token) and returns what to store. Fields quartermaster's
 * README writes and berth has no use for (`type`) are ignored, as quartermaster did.
 * `random` gives the id's unguessable part (hex).
 */
export function parseRun(body: Record<string, unknown>, random: string): RunRequest {
  const image = body.image
  if (typeof image !== 'string' || image.trim() === '') throw new QuartermasterError(400, 'image missing or invalid: give the image to run, like "user/image"')
  // A list is berth's own extension (its CLI sends argv as given); quartermaster's clients send a string.
  const command = Array.isArray(body.command) && body.command.every((w) => typeof w === 'string') ? body.command as string[]
    : optional(body, 'command', 'string', 'a string of words, like "node index.js"') as string | undefined
  const name = optional(body, 'name', 'string', 'a string') as string | undefined
  const memory = body.memory
  if (memory !== undefined && memory !== null && memory !== 0 && (typeof memory !== 'number' || !Number.isInteger(memory) || memory < 6 || memory > 1_048_576)) {
    throw new QuartermasterError(400, `memory must be a whole number of MB from 6 (Docker's least) to 1048576, not ${JSON.stringify(memory)}`)
  }
  const labels = body.labels
  if (labels !== undefined && labels !== null && (typeof labels !== 'object' || Array.isArray(labels) || Object.values(labels).some((v) => typeof v !== 'string'))) {
    throw new QuartermasterError(400, 'labels must be an object of string values, like {"name": "value"}')
  }
  const authText = optional(body, 'auth', 'string', 'base64 of a Docker auth object') as string | undefined
  const words = command === undefined ? [] : typeof command === 'string' ? splitCommand(command) : command
  const mb = typeof memory === 'number' && memory > 0 ? `${memory}m` : undefined
  const spec: ServiceSpecInput = {
    image: image.trim(),
    ...(words.length > 0 ? {command: words} : {}),
    ...(labels && Object.keys(labels).length > 0 ? {labels: {...labels as Record<string, string>}} : {}),
    ...(mb ? {memory: mb, resources: {memory: mb}} : {}),
    mode: 'replicated',
    replicas: 1,
    placement: {roles: ['worker']},
  }
  const id = runId(name, random)
  const auth = authText === undefined || authText === '' ? undefined : decodeAuth(authText)
  return {id, spec: auth ? {...spec, pullSecret: pullSecretName(id)} : spec, ...(auth ? {auth} : {})}
}

/**
 * Splits `command` into argv words at runs of white space, as quartermaster split it at
 * spaces. No shell ever sees it and quotes are ordinary characters: `sh -c "a b"` is four
 * words. A command that needs a shell runs one: `sh -c script.sh`.
 */
export function splitCommand(command: string): string[] {
  return command.split(/\s+/).filter((word) => word !== '')
}

/** The service name of a run: `run-` and the unguessable part, with a slug of `name` between when there is one. */
export function runId(name: string | undefined, random: string): string {
  const slug = (name ?? '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 40).replace(/-+$/, '')
  return `${RUN_PREFIX}${slug ? `${slug}-` : ''}${random}`
}

/** The name of the sealed secret holding a run's registry auth (secret names are env-var names). */
export function pullSecretName(id: string): string {
  return `pull_auth_${id.replace(/-/g, '_')}`
}

/**
 * Decodes `auth`: base64 (standard or URL-safe, as Docker's X-Registry-Auth is) of a JSON
 * object with Docker's auth fields as strings. The message never quotes the value.
 */
export function decodeAuth(text: string): RegistryAuth {
  const bad = new QuartermasterError(400, 'auth must be base64 of a Docker auth JSON object, like {"username": "…", "password": "…", "serveraddress": "registry.example.com"}')
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text.trim())) throw bad
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(text.trim().replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'))
  } catch {
    throw bad
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw bad
  const auth: Record<string, string> = {}
  for (const [key, value] of Object.entries(parsed)) {
    if (!(authFields as readonly string[]).includes(key)) continue
    if (typeof value !== 'string') throw bad
    // quartermaster's README says to leave `auth` empty; a set one is Docker's base64 of user:password.
    if (value !== '') auth[key] = value
  }
  if (auth.username === undefined && auth.identitytoken === undefined && auth.auth === undefined) throw bad
  return auth as RegistryAuth
}

/**
 * quartermaster's word for a replica's state. It answered with Swarm's task messages:
 * `pending` before a node is chosen, `preparing` while the image is pulled, `starting`,
 * `started` once it runs, `failed`, `shutdown`; berth adds `orphaned` (Swarm's word for a
 * task whose node is gone) while its machine is down and the scheduler has not moved it.
 */
export function statusWord(row: Pick<ReplicaRow, 'observed'> | undefined): string {
  switch (row?.observed) {
    case undefined:
    case 'pending':
      return 'pending'
    case 'machine down':
      return 'orphaned'
    case 'active':
      return 'started'
    case 'activating':
    case 'reloading':
      return 'starting'
    case 'failed':
      return 'failed'
    case 'deactivating':
      return 'shutdown'
    default:
      // absent or inactive: assigned, the pull and start not done yet.
      return 'preparing'
  }
}

function optional(body: Record<string, unknown>, field: string, type: 'string', what: string): unknown {
  const value = body[field]
  if (value === undefined || value === null) return undefined
  if (typeof value !== type) throw new QuartermasterError(400, `${field} must be ${what}, not ${describe(value)}`)
  return value
}

function describe(value: unknown): string {
  return Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`
}
