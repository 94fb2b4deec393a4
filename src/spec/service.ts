import {UsageError, type Problem} from '../errors.js'
import {schemaProblems} from '../schema.js'
import type {ValueSource} from './escape.js'
import {specProblems} from './checks.js'
import {specDefaults, type ServiceSpec, type ServiceSpecInput} from './types.js'

// The spec's types are part of this module's surface: importers of the spec take both from here.
export * from './types.js'

const serviceName = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/

/** Names of berth's own units (`<prefix>agent.service`, `<prefix>installer.*`, `<prefix>unseal.service`): no service may take them. */
export const RESERVED_SERVICE_NAMES: readonly string[] = ['agent', 'installer', 'unseal']

/** Returns the problem with a service name (it becomes part of unit, container and file names), or undefined. */
export function serviceNameProblem(name: string, source: ValueSource = {}): Problem | undefined {
  if (RESERVED_SERVICE_NAMES.includes(name)) return {...source, message: `${name} is the name of berth's own unit`, fix: 'choose another service name'}
  if (serviceName.test(name)) return undefined
  return {
    ...source,
    message: `${JSON.stringify(name)} is not a valid service name`,
    fix: 'use 1-63 lower-case letters, digits and inner dashes, like web or billing-api',
  }
}

/** Throws a UsageError unless `name` is a valid service name. */
export function validateServiceName(name: string, source: ValueSource = {}): string {
  const problem = serviceNameProblem(name, source)
  if (problem) throw new UsageError([problem])
  return name
}

/**
 * Checks a service spec against the schema (every problem at once, unknown fields rejected)
 * and against what the unit and env file need, and returns it with defaults filled in.
 */
export async function validateServiceSpec(value: unknown, source: ValueSource = {}): Promise<ServiceSpec> {
  const problems = await schemaProblems('urn:berth:service', value, source.file, source.path ?? '')
  // Deeper checks assume the shape the schema promises, so they run only on a valid shape.
  if (problems.length === 0) problems.push(...specProblems(value as ServiceSpecInput, source))
  if (problems.length > 0) throw new UsageError(problems)
  const {placement, ...spec} = structuredClone(value as ServiceSpecInput)
  const {roles: placementRoles, ...rest} = placement ?? {}
  return {
    ...spec,
    stopTimeout: spec.stopTimeout ?? specDefaults.stopTimeout,
    restart: spec.restart ?? specDefaults.restart,
    roles: spec.roles ?? placementRoles ?? [...specDefaults.roles],
    ...(spec.mode === 'replicated' && spec.replicas === undefined ? {replicas: 1} : {}),
    ...(Object.keys(rest).length > 0 ? {placement: rest} : {}),
  }
}

/** A service as a store holds it: its name, where it is (for messages), and how to read its spec. */
export interface StoredService {
  name: string
  where: ValueSource
  /** Returns the raw spec; may throw (a JSON row that does not parse). */
  read: () => unknown
}

/**
 * Validates every stored service at once, in name order. One bad service fails the whole
 * read, naming where it is: acting on part of the desired state would stop the others.
 */
export async function validateStoredServices(stored: readonly StoredService[]): Promise<Map<string, ServiceSpec>> {
  const services = new Map<string, ServiceSpec>()
  const problems: Problem[] = []
  for (const service of [...stored].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    try {
      validateServiceName(service.name, service.where)
      services.set(service.name, await validateServiceSpec(service.read(), service.where))
    } catch (error) {
      if (error instanceof UsageError) problems.push(...error.problems)
      else problems.push({...service.where, message: `${error instanceof SyntaxError ? 'is not JSON' : 'cannot be read'}: ${(error as Error).message}`, fix: 'put the service again'})
    }
  }
  if (problems.length > 0) throw new UsageError(problems)
  return services
}
