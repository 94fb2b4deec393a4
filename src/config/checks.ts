import {isIP} from 'node:net'

import {type Placement, validateStoredServices} from '../spec/service.js'
import {type Problem, UsageError, formatProblem} from '../errors.js'
import {parseConstraint} from '../spec/constraint.js'
import {arrayOf, type ClusterDocument, MAX_MAIN_MACHINES, intervalSeconds} from './types.js'

/**
 * The checks a schema cannot express: unique names and addresses, valid IPs, and an etcd
 * membership that can hold a quorum. Returns the problems and the warnings. Runs on
 * documents the schema rejected too (so every problem is reported at once): it checks
 * only what has the right type and leaves the rest to the schema's messages.
 */
export function semanticProblems(document: ClusterDocument, file?: string): {problems: Problem[]; warnings: string[]} {
  const problems: Problem[] = []
  const warnings: string[] = []
  const names = new Map<string, number>()
  const ips = new Map<string, number>()
  const machines = arrayOf(document.machines)
  for (const [i, machine] of machines.entries()) {
    if (typeof machine?.ip !== 'string' || typeof machine.name !== 'string') continue
    const path = `machines/${i}`
    if (isIP(machine.ip) !== 4) {
      problems.push({file, path: `${path}/ip`, message: `${JSON.stringify(machine.ip)} is not an IPv4 address`, fix: 'write four numbers 0-255 separated by dots'})
    }
    const sameName = names.get(machine.name)
    if (sameName === undefined) names.set(machine.name, i)
    else problems.push({file, path: `${path}/name`, message: `${machine.name} is already the name of machines/${sameName}`, fix: 'give every machine its own name'})
    const sameIp = ips.get(machine.ip)
    if (sameIp === undefined) ips.set(machine.ip, i)
    else problems.push({file, path: `${path}/ip`, message: `${machine.ip} is already the address of machines/${sameIp}`, fix: 'give every machine its own address'})
  }
  const mains = machines.filter((m) => m?.role === 'main').length
  if (mains === 0) {
    problems.push({file, path: 'machines', message: 'no machine has role main, so there is no etcd member', fix: 'give 1, 3 or 5 machines role: main'})
  } else if (mains > MAX_MAIN_MACHINES) {
    problems.push({file, path: 'machines', message: `${mains} machines have role main; etcd takes at most ${MAX_MAIN_MACHINES} members`, fix: 'make the others role: worker'})
  } else if (mains % 2 === 0) {
    warnings.push(`${file ? `${file}: ` : ''}machines: ${mains} main machines tolerate no more failures than ${mains - 1}; an odd count is better`)
  }
  const interval = document.etcd?.snapshots?.interval
  // Each snapshot copies the whole database: more often than every 5 s is load, not safety.
  if (typeof interval === 'string' && /^[1-9][0-9]*[smh]$/.test(interval) && intervalSeconds(interval) < 5) {
    problems.push({file, path: 'etcd/snapshots/interval', message: `${interval} is shorter than 5 s`, fix: 'write 5s or more, like 1h'})
  }
  problems.push(...nodeSecretsProblems(document, file))
  warnings.push(...placementWarnings(document, file))
  return {problems, warnings}
}

/**
 * A spread or a constraint on a label no machine in the file has: not an error (a machine
 * added later may have it), but the copies would all count as one group, or never be placed.
 */
function placementWarnings(document: ClusterDocument, file?: string): string[] {
  const names = new Set(arrayOf(document.machines).map((m) => m?.name))
  const keys = new Set(arrayOf(document.machines).flatMap((m) => (typeof m?.labels === 'object' && m.labels !== null ? Object.keys(m.labels) : [])))
  const services: unknown = document.services
  if (typeof services !== 'object' || services === null) return []
  const warnings: string[] = []
  const warn = (path: string, message: string): void => {
    warnings.push(`${file ? `${file}: ` : ''}${path}: ${message}`)
  }
  for (const [name, spec] of Object.entries(services as Record<string, {placement?: Placement}>)) {
    const placement = spec?.placement
    if (typeof placement !== 'object' || placement === null) continue
    if (typeof placement.spread === 'string' && !keys.has(placement.spread)) {
      warn(`services/${name}/placement/spread`, `no machine has label ${placement.spread}, so every copy counts as one group`)
    }
    for (const [i, text] of (Array.isArray(placement.constraints) ? placement.constraints : []).entries()) {
      const parsed = typeof text === 'string' ? parseConstraint(text) : undefined
      // != holds on a machine without the label, so only == and in can match nothing.
      if (parsed === undefined || 'problem' in parsed || parsed.operator === '!=') continue
      const path = `services/${name}/placement/constraints/${i}`
      if (parsed.attribute === 'name') {
        const unknown = parsed.values.filter((v) => !names.has(v))
        if (unknown.length === parsed.values.length) warn(path, `no machine is named ${unknown.join(' or ')}`)
      } else if (!keys.has(parsed.attribute.slice('labels.'.length))) {
        warn(path, `no machine has label ${parsed.attribute.slice('labels.'.length)}`)
      }
    }
  }
  return warnings
}

/** Mode kms needs its key, and a key given for another mode would be silently unused. */
function nodeSecretsProblems(document: ClusterDocument, file?: string): Problem[] {
  const setting = document.nodeSecrets
  if (typeof setting !== 'object' || setting === null) return []
  if (setting.mode === 'kms' && setting.kms === undefined) {
    return [{file, path: 'nodeSecrets/kms', message: 'is required with mode: kms', fix: 'add kms: {keyId: alias/NAME}, or choose mode: systemd-creds'}]
  }
  if (setting.mode !== 'kms' && setting.kms !== undefined) {
    return [{file, path: 'nodeSecrets/kms', message: `is used only with mode: kms, and the mode is ${setting.mode ?? 'systemd-creds (the default)'}`, fix: 'remove it, or set mode: kms'}]
  }
  return []
}

/**
 * Checks every service by the agent's own rules (validateStoredServices: its name, the
 * service schema, what the unit and the env file need), so `cluster validate` refuses what
 * the installer would refuse later on every node. The cluster schema has checked each
 * service's shape already (through its $ref), and the agent's check repeats that part: a
 * line already in `listed` is left out, and so is a service whose name the schema refused
 * (the agent would say the same in other words).
 */
export async function serviceProblems(document: ClusterDocument, file: string | undefined, listed: readonly Problem[]): Promise<Problem[]> {
  const services: unknown = document.services
  if (typeof services !== 'object' || services === null || Array.isArray(services)) return []
  const listedPaths = new Set(listed.map((p) => p.path))
  const stored = Object.entries(services)
    .filter(([name]) => !listedPaths.has(`services/${name}`))
    // `build` is cluster.yaml's alone (src/config/build.ts): the agent checks the spec without it.
    .map(([name, value]: [string, unknown]) => ({name, where: {file, path: `services/${name}`}, read: () => withoutBuild(value)}))
  try {
    await validateStoredServices(stored)
    return []
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    const seen = new Set(listed.map((p) => formatProblem(p)))
    return error.problems.filter((p) => !seen.has(formatProblem(p)))
  }
}

function withoutBuild(value: unknown): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value
  const {build: _build, ...spec} = value as Record<string, unknown>
  return spec
}
