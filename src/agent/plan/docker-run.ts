import {canonicalJson, sha256Hex} from '../../hash.js'
import {runImage} from '../../images/reference.js'
import {SCHEDULING_FIELDS, WATCH_FIELDS, type ServiceSpec} from '../../spec/service.js'
import {containerName, NODE_PATHS} from '../../layout/node.js'

/** What a node adds to every service's `docker run`: where images come from and where env and label files live. */
export interface RunOptions {
  /** Registry host (and port) for images named without one, like `10.0.0.2:5000`. */
  registry?: string
  /** Directory of the env and label files, a tmpfs on nodes. */
  envFileDir?: string
}

/** The directory env files are written to on a node unless the agent's options say otherwise. */
export const defaultEnvFileDir = NODE_PATHS.envFiles

/** The env file a service's env and secrets are written to just before it starts. */
export function envFilePath(prefix: string, name: string, opts: RunOptions = {}): string {
  return `${opts.envFileDir ?? defaultEnvFileDir}/${containerName(prefix, name)}.env`
}

/**
 * The label file that gives a service's container its `berth.spec-hash` label, beside the env
 * file. The hash lives here rather than on the `docker run` line so that a change the unit
 * does not carry (env, secrets) leaves the unit as it was: a restart, without a rewrite or a
 * daemon-reload.
 */
export function labelFilePath(prefix: string, name: string, opts: RunOptions = {}): string {
  return `${opts.envFileDir ?? defaultEnvFileDir}/${containerName(prefix, name)}.labels`
}

/** The content of a service's label file: docker reads `--label-file` as it reads an env file, a `key=value` a line. */
export function renderLabelFile(hash: string): string {
  return `berth.spec-hash=${hash}\n`
}

/** A short hash of everything that decides how the container runs; a container carrying another one is stale. */
export function specHash(prefix: string, name: string, spec: ServiceSpec, opts: RunOptions = {}): string {
  // Scheduling fields decide where copies run, not how: a scale or a new constraint must not restart them.
  const ignored: readonly string[] = [...SCHEDULING_FIELDS, ...WATCH_FIELDS]
  const running = Object.fromEntries(Object.entries(spec).filter(([key]) => !ignored.includes(key)))
  return sha256Hex(canonicalJson({prefix, name, spec: running, registry: opts.registry ?? null})).slice(0, 16)
}

/**
 * The exact argv after `docker` that runs a service's container. Env values and secrets are
 * never on it: they go to the env file, which `ps` does not show. Neither is the spec hash:
 * it goes to the label file. Both files are named whatever the spec holds (docker takes an
 * empty one as nothing), so a service's first env var does not change its unit either.
 */
export function dockerRunArgs(prefix: string, name: string, spec: ServiceSpec, opts: RunOptions = {}): string[] {
  const container = containerName(prefix, name)
  const args = ['run', '--rm', '--init', '--name', container]
  // A replica's container names its service and its replica id; a global service's is as it always was.
  const dot = name.indexOf('.')
  args.push('--label', 'berth.managed=true', '--label', `berth.service=${dot < 0 ? name : name.slice(0, dot)}`)
  if (dot >= 0) args.push('--label', `berth.replica=${name}`)
  args.push('--label-file', labelFilePath(prefix, name, opts), '--env-file', envFilePath(prefix, name, opts))
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
