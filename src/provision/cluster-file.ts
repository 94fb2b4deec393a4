import {readFile} from 'node:fs/promises'
import {isMap, parseDocument} from 'yaml'

import {writeFileAtomic} from '../fsx.js'

/**
 * Adds a service to cluster.yaml in place, keeping the operator's comments and layout,
 * unless one of that name is there already (the operator's version wins). Returns whether
 * it added it.
 */
export async function addServiceToFile(file: string, name: string, spec: Record<string, unknown>): Promise<boolean> {
  const doc = parseDocument(await readFile(file, 'utf8'))
  const services = doc.get('services', true)
  if (isMap(services) && services.has(name)) return false
  if (isMap(services)) services.set(name, doc.createNode(spec, {flow: true}))
  else doc.set('services', doc.createNode({[name]: spec}))
  await writeFileAtomic(file, doc.toString())
  return true
}
