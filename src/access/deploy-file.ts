import {readFile} from 'node:fs/promises'

import {UsageError, type Problem} from '../errors.js'
import {serviceNameProblem, validateServiceSpec, type ServiceSpec} from '../spec/service.js'

/**
 * Reads a deploy file (YAML or JSON, `services: {name: spec}`) and checks every service
 * before any is sent, so a file with one bad service changes nothing on the cluster.
 */
export async function readDeployFile(file: string): Promise<Map<string, ServiceSpec>> {
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError([{file, message: `cannot read it (${error.code ?? error.message})`}])
  })
  const {parseDocument} = await import('yaml')
  const doc = parseDocument(text)
  if (doc.errors.length > 0) throw new UsageError(doc.errors.map((e) => ({file, message: e.message.split('\n')[0] ?? e.message, fix: 'fix the YAML syntax'})))
  const root: unknown = doc.toJS()
  const problems: Problem[] = []
  if (typeof root !== 'object' || root === null || Array.isArray(root)) throw new UsageError([{file, message: 'must be a mapping with services:', fix: 'write services: {NAME: {image: ...}}'}])
  for (const key of Object.keys(root)) {
    if (key !== 'services') problems.push({file, path: key, message: 'unknown key', fix: 'remove it; known keys here: services'})
  }
  const services = (root as {services?: unknown}).services
  if (typeof services !== 'object' || services === null || Array.isArray(services) || Object.keys(services).length === 0) {
    problems.push({file, path: 'services', message: 'must map at least one service name to its spec'})
    throw new UsageError(problems)
  }
  const specs = new Map<string, ServiceSpec>()
  for (const [name, value] of Object.entries(services)) {
    const where = {file, path: `services/${name}`}
    const nameProblem = serviceNameProblem(name, where)
    if (nameProblem) problems.push(nameProblem)
    try {
      specs.set(name, await validateServiceSpec(value, where))
    } catch (error) {
      if (!(error instanceof UsageError)) throw error
      problems.push(...error.problems)
    }
  }
  if (problems.length > 0) throw new UsageError(problems)
  return specs
}
