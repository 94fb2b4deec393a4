import type {Problem} from '../errors.js'
import {schemaProblems} from '../schema.js'

/** Every problem with berth-agent options (schema/agent-options.schema.json), each with the file, its path and a fix. */
export async function optionsSchemaProblems(value: unknown, file: string): Promise<Problem[]> {
  const problems = await schemaProblems('urn:berth:agent-options', value, file)
  return problems.map((p) => (p.message === 'is required' ? {...p, fix: 'add it; schema/agent-options.schema.json describes every key'} : p))
}
