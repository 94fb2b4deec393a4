import {canonicalJson, sha256Hex} from '../../hash.js'
import {runImage} from '../../images/reference.js'
import {SCHEDULING_FIELDS, WATCH_FIELDS, type ServiceSpec} from '../../spec/service.js'

/** What a node adds to every service's `docker run`: where images come from and where env files live. */
export interface RunOptions {
  /** Registry host (and port) for images named without one, like `10.0.0.2:5000`. */
  registry?: string
  /** Directory of the env files, a tmpfs on nodes. */
  envFileDir?: string
}

/** The directory env files are written to on a node unless the agent's options say otherwise. */
export const defaultEnvFileDir = '/run/berth'

/** The container's name, which is also the unit's name without `.service`. */
export function containerName(prefix: string, name: string): string {
  return `${prefix}${name}`
}

/** The env file a service's env and secrets are written to just before it starts. */
export function envFilePath(prefix: string, name: string, opts: RunOptions = {}): string {
  return `${opts.envFileDir ?? defaultEnvFileDir}/${containerName(prefix, name)}.env`
}

/** A short hash of everything that decides how the container runs; a container carrying another one is stale. */
export function specHash(prefix: string, name: string, spec: ServiceSpec, opts: RunOptions = {}): string {
  // Scheduling fields decide where copies run, not how: a scale or a new constraint must not restart them.
  const ignored: readonly string[] = [...SCHEDULING_FIELDS, ...WATCH_FIELDS]
  const running = Object.fromEntries(Object.entries(spec).filter(([key]) => !ignored.includes(key)))
  return sha256Hex(canonicalJson({prefix, name, spec: running, registry: opts.registry ?? null})).slice(0, 16)
}

/**
 * The exact argv after `docker` that runs a service's container (`hash` only saves a caller
 * that has the spec hash already from computing it again). Env values and secrets are never
 * on it: they go to the env file, which `ps` does not show.
 */
export function dockerRunArgs(prefix: string, name: string, spec: ServiceSpec, opts: RunOptions = {}, hash = specHash(prefix, name, spec, opts)): string[] {
  const container = containerName(prefix, name)
  const args = ['run', '--rm', '--init', '--name', container]
  // A replica's container names its service and its replica id; a global service's is as it always was.
  const dot = name.indexOf('.')
  args.push('--label', 'berth.managed=true', '--label', `berth.service=${dot < 0 ? name : name.slice(0, dot)}`)
  if (dot >= 0) args.push('--label', `berth.replica=${name}`)
  args.push('--label', `berth.spec-hash=${hash}`)
  if (Object.keys(spec.env ?? {}).length > 0 || (spec.secrets ?? []).length > 0) args.push('--env-file', envFilePath(prefix, name, opts))
  for (const port of spec.ports ?? []) args.push('--publish', port)
  for (const volume of spec.volumes ?? []) args.push('--volume', volume)
  for (const mount of spec.mounts ?? []) {
    args.push('--mount', `type=bind,source=${mount.source},target=${mount.target}${mount.readOnly ? ',readonly' : ''}`)
  }
  if (spec.user !== undefined) args.push('--user', spec.user)
  for (const cap of spec.capabilities?.add ?? []) args.push('--cap-add', cap)
  for (const cap of spec.capabilities?.drop ?? []) args.push('--cap-drop', cap)
  if (spec.memory !== undefined) args.push('--memory', spec.memory)
  if (spec.readOnly) args.push('--read-only')
  // The unit's ExecStop already waits forever; this makes dockerd's own stops (a `docker
  // stop` without -t, its shutdown) wait too. Only here: other specs keep their argv and hash.
  if (spec.stopTimeout === 'infinity') args.push('--stop-timeout', '-1')
  for (const key of Object.keys(spec.labels ?? {}).sort()) args.push('--label', `${key}=${spec.labels?.[key] ?? ''}`)
  args.push(runImage(spec, opts.registry), ...(spec.command ?? []))
  return args
}
