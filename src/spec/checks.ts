import type {Problem} from '../errors.js'
import {CONSTRAINT_GRAMMAR, parseConstraint} from './constraint.js'
import {memoryMb} from './quantities.js'
import {envLineProblem, envString} from './env-file.js'
import {unsafeCharacterIn, type ValueSource} from './escape.js'
import {hasFixedHostPort, updateDefaults, type EnvValue, type ServiceSpecInput} from './types.js'

/**
 * What the schema cannot say about a service spec: values that would break the unit or the
 * env file, `..` in paths, port numbers out of range, labels that would forge berth's own,
 * a variable set both as env and as secret. Runs on a spec whose shape the schema accepted.
 */
export function specProblems(spec: ServiceSpecInput, source: ValueSource): Problem[] {
  const problems: Problem[] = []
  const at = (path: string, message: string, fix: string): void => {
    problems.push({file: source.file, path: [source.path, path].filter(Boolean).join('/'), message, fix})
  }
  for (const [path, value] of unitStrings(spec)) {
    const unsafe = unsafeCharacterIn(value)
    if (unsafe !== undefined) at(path, `contains ${unsafe}`, 'remove line breaks and control characters')
  }
  for (const [name, value] of Object.entries(spec.env ?? {})) {
    // Checked before envString, whose JSON.stringify would overflow the stack on a deep value.
    const shape = envShapeProblem(value)
    if (shape !== undefined) {
      at(`env/${name}`, shape.message, shape.fix)
      continue
    }
    const problem = envLineProblem(name, envString(value as EnvValue))
    if (problem !== undefined) at(`env/${name}`, problem, 'put multi-line values in a mounted file')
    if (spec.secrets?.includes(name)) at(`env/${name}`, 'is also listed in secrets', 'set the variable either in env or as a secret')
  }
  spec.volumes?.forEach((volume, i) => {
    if (hasDotDot(volume.split(':')[1] ?? '')) at(`volumes/${i}`, 'has a .. path segment', 'write the container path without ..')
  })
  spec.mounts?.forEach((mount, i) => {
    if (hasDotDot(mount.source)) at(`mounts/${i}/source`, 'has a .. path segment', 'write the host path without ..')
    if (hasDotDot(mount.target)) at(`mounts/${i}/target`, 'has a .. path segment', 'write the container path without ..')
  })
  spec.ports?.forEach((port, i) => {
    const problem = portProblem(port)
    if (problem !== undefined) at(`ports/${i}`, problem, 'ports are 1-65535 and addresses are IPv4, like 127.0.0.1:8080:80')
  })
  for (const key of Object.keys(spec.labels ?? {})) {
    if (key.startsWith('berth.')) at(`labels/${key}`, 'uses the reserved berth. prefix', 'berth sets these labels itself; choose another key')
  }
  for (const problem of healthProblems(spec)) at(problem.path, problem.message, problem.fix)
  updateProblems(spec, at)
  for (const problem of imageProblems(spec)) at(problem.path, problem.message, problem.fix)
  schedulingProblems(spec, at)
  return problems
}

/**
 * Mode and replicas that contradict each other, roles given twice, constraints that do not
 * parse, and settings a global service would silently ignore (it runs one copy on every
 * eligible machine, so it has no count to spread or cap).
 */
function schedulingProblems(spec: ServiceSpecInput, at: (path: string, message: string, fix: string) => void): void {
  const global = spec.mode === 'global' || (spec.mode === undefined && spec.replicas === undefined)
  if (spec.mode === 'global' && spec.replicas !== undefined) {
    at('replicas', 'is set with mode: global, which runs one copy on every eligible machine', 'remove replicas, or write mode: replicated')
  }
  const placement = spec.placement ?? {}
  if (spec.roles !== undefined && placement.roles !== undefined) {
    at('placement/roles', 'is given with the top-level roles too', 'keep one of the two: roles is a shorthand of placement.roles')
  }
  placement.constraints?.forEach((text, i) => {
    const parsed = parseConstraint(text)
    if ('problem' in parsed) at(`placement/constraints/${i}`, parsed.problem, CONSTRAINT_GRAMMAR)
  })
  if (placement.spread?.startsWith('labels.')) {
    at('placement/spread', `${JSON.stringify(placement.spread)} names the label as a constraint does`, `write the label key alone, like ${placement.spread.slice('labels.'.length) || 'zone'}`)
  }
  const limit = spec.memory === undefined ? undefined : memoryMb(spec.memory)
  const reserved = spec.resources?.memory === undefined ? undefined : memoryMb(spec.resources.memory)
  if (limit !== undefined && reserved !== undefined && reserved > limit) {
    at('resources/memory', `reserves ${spec.resources?.memory}, more than the container's limit memory: ${spec.memory}`, 'reserve at most the limit, or raise memory')
  }
  if (global) {
    const why = spec.mode === 'global' ? 'mode is global' : 'the service is global (no replicas given)'
    for (const key of ['spread', 'maxPerMachine'] as const) {
      if (placement[key] !== undefined) at(`placement/${key}`, `has no effect: ${why}, one copy on every eligible machine`, 'remove it, or give replicas: N')
    }
  }
}

/** The health check's rule the schema does not say: exactly one kind of check. */
function healthProblems(spec: ServiceSpecInput): {path: string; message: string; fix: string}[] {
  if (spec.health === undefined) return []
  const kinds = (['http', 'tcp', 'exec'] as const).filter((kind) => spec.health?.[kind] !== undefined)
  if (kinds.length === 1) return []
  const fix = 'give exactly one of http: {port, path, status}, tcp: {port} or exec: [command, args...]'
  if (kinds.length === 0) return [{path: 'health', message: 'names no check', fix}]
  return [{path: 'health', message: `names ${kinds.length} checks (${kinds.join(', ')})`, fix}]
}

/** What the update policy's schema cannot say: start-first needs a service without a fixed host port, and a deadline must leave time to become healthy. */
function updateProblems(spec: ServiceSpecInput, at: (path: string, message: string, fix: string) => void): void {
  const update = spec.update
  if (update === undefined) return
  if (update.order === 'start-first' && hasFixedHostPort(spec)) {
    at('update/order', 'is start-first, but the service publishes a host port: a new copy cannot start beside the old one on its machine', 'write order: stop-first (or leave it out) for a service that publishes ports')
  }
  const minHealthy = update.minHealthySeconds ?? updateDefaults.minHealthySeconds
  const deadline = update.healthyDeadline ?? updateDefaults.healthyDeadline
  if (spec.health === undefined && deadline <= minHealthy) {
    at('update/healthyDeadline', `is ${deadline} s, not more than minHealthySeconds (${minHealthy} s): a copy without a health check could never be healthy in time`, `raise healthyDeadline above ${minHealthy}, or lower minHealthySeconds`)
  }
  const startPeriod = spec.health?.startPeriod ?? 0
  if (spec.health !== undefined && deadline <= startPeriod) {
    at('update/healthyDeadline', `is ${deadline} s, not more than the health check's startPeriod (${startPeriod} s)`, `raise healthyDeadline above ${startPeriod}`)
  }
  // A drain longer than the batch's deadline would fail every stop-first batch before its new copy could start.
  const drain = update.drainSeconds ?? updateDefaults.drainSeconds
  if (drain >= deadline) {
    at('update/drainSeconds', `is ${drain} s, not less than healthyDeadline (${deadline} s): a batch would fail while its old copies still drain`, `lower drainSeconds below ${deadline}, or raise healthyDeadline above ${drain}`)
  }
}

/** A pin given twice, and a tag to follow that is not there. */
function imageProblems(spec: ServiceSpecInput): {path: string; message: string; fix: string}[] {
  const pinned = spec.image.includes('@')
  const problems = []
  if (pinned && spec.imageDigest !== undefined) problems.push({path: 'imageDigest', message: 'is given with an image pinned by @digest already', fix: 'keep one of the two: remove imageDigest, or the @digest from image'})
  if (pinned && spec.autoUpgrade !== undefined && spec.autoUpgrade !== false) {
    problems.push({path: 'autoUpgrade', message: `has no tag to follow: image ${JSON.stringify(spec.image)} is pinned by digest`, fix: 'write the image with its tag (web:1.2) and no @sha256:..., or remove autoUpgrade'})
  }
  return problems
}

/** Deepest nesting of arrays and objects an env value may have. */
export const maxEnvDepth = 32

/**
 * What JSON cannot carry in an env value, found without recursion: nesting past
 * {@link maxEnvDepth}, and numbers that are not finite (a literal like 1e400 parses to
 * Infinity, which the etcd and PostgreSQL stores would keep as null).
 */
function envShapeProblem(value: unknown): {message: string; fix: string} | undefined {
  const pending: Array<[unknown, number]> = [[value, 0]]
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, depth] = next
    if (typeof item === 'number' && !Number.isFinite(item)) return {message: 'holds a number JSON cannot represent', fix: 'write it as a string'}
    if (typeof item !== 'object' || item === null) continue
    if (depth + 1 > maxEnvDepth) return {message: `nests deeper than ${maxEnvDepth} levels of arrays and objects`, fix: 'flatten it, or put the structure in a mounted file'}
    for (const child of Object.values(item)) pending.push([child, depth + 1])
  }
  return undefined
}

/** Every string that ends up on the unit's command line, with its path in the spec. */
function unitStrings(spec: ServiceSpecInput): [string, string][] {
  const found: [string, string][] = [['image', spec.image]]
  spec.command?.forEach((word, i) => found.push([`command/${i}`, word]))
  spec.volumes?.forEach((volume, i) => found.push([`volumes/${i}`, volume]))
  spec.mounts?.forEach((mount, i) => found.push([`mounts/${i}/source`, mount.source], [`mounts/${i}/target`, mount.target]))
  for (const [key, value] of Object.entries(spec.labels ?? {})) found.push([`labels/${key}`, value])
  return found
}

function hasDotDot(path: string): boolean {
  return path.split('/').includes('..')
}

function portProblem(port: string): string | undefined {
  const parts = port.replace(/\/(tcp|udp)$/, '').split(':')
  const [hostPort, containerPort] = parts.slice(-2).map(Number)
  const ip = parts.length === 3 ? (parts[0] as string) : undefined
  if (ip !== undefined && ip.split('.').some((octet) => Number(octet) > 255)) return `${JSON.stringify(ip)} is not an IPv4 address`
  for (const n of [hostPort, containerPort]) {
    if (n === undefined || n < 1 || n > 65535) return `${JSON.stringify(port)} has port ${n}, outside 1-65535`
  }
  return undefined
}
