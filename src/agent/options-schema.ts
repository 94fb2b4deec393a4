import {readFileSync} from 'node:fs'
import type {ErrorObject, ValidateFunction} from 'ajv'

import type {Problem} from '../errors.js'
import {shipped} from '../paths.js'
import {schemaProblems} from '../schema.js'

/**
 * Checks berth-agent options against schema/agent-options.schema.json. The shared
 * schemaProblems does the work once src/schema.ts ships that schema; until then a private
 * ajv instance stands in with the same wording, so the options are checked either way.
 */

const schemaId = 'urn:berth:agent-options'
let fallback: ValidateFunction | undefined

/** Every problem with an options object, each with the file, its path and a fix. */
export async function optionsSchemaProblems(value: unknown, file: string): Promise<Problem[]> {
  let problems: Problem[]
  try {
    problems = await schemaProblems(schemaId, value, file)
  } catch (error) {
    if (!/is not shipped/.test((error as Error).message)) throw error
    problems = await fallbackProblems(value, file)
  }
  // `if/then` picks the store and secrets shape by kind; its own summary error adds nothing
  // to the errors of the branch it chose.
  return problems
    .filter((p) => !/must match "(then|else)" schema/.test(p.message))
    .map((p) => (p.message === 'is required' ? {...p, fix: 'add it; schema/agent-options.schema.json describes every key'} : p))
}

async function fallbackProblems(value: unknown, file: string): Promise<Problem[]> {
  if (!fallback) {
    const {default: AjvModule} = await import('ajv')
    const Ajv = ((AjvModule as unknown as {default?: unknown}).default ?? AjvModule) as typeof AjvModule.default
    const ajv = new Ajv({allErrors: true, verbose: true, strict: false})
    fallback = ajv.compile(JSON.parse(readFileSync(shipped('schema', 'agent-options.schema.json'), 'utf8')))
  }
  if (fallback(value)) return []
  return (fallback.errors ?? []).filter((e) => e.propertyName === undefined).map((e) => toProblem(e, file))
}

function toProblem(error: ErrorObject, file: string): Problem {
  const at = error.instancePath.slice(1)
  const join = (...parts: string[]): string => parts.filter(Boolean).join('/')
  const fix = (error.parentSchema as {description?: string} | undefined)?.description
  const params = error.params as Record<string, unknown>
  switch (error.keyword) {
    case 'additionalProperties': {
      const known = Object.keys((error.parentSchema as {properties?: object}).properties ?? {})
      return {file, path: join(at, String(params.additionalProperty)), message: 'unknown key', fix: known.length > 0 ? `remove it; known keys here: ${known.join(', ')}` : 'remove it'}
    }
    case 'required':
      return {file, path: join(at, String(params.missingProperty)), message: 'is required'}
    case 'enum':
      return {file, path: at, message: `${JSON.stringify(error.data)} is not allowed`, fix: `use one of: ${(params.allowedValues as unknown[]).join(', ')}`}
    case 'pattern':
      return {file, path: at, message: `${JSON.stringify(error.data)} is not valid`, fix: fix ?? `it must match ${String(params.pattern)}`}
    case 'type':
      return {file, path: at, message: `must be ${/^[aeiou]/.test(String(params.type)) ? 'an' : 'a'} ${String(params.type)}`, fix}
    default:
      return {file, path: at, message: error.message ?? 'is invalid', fix}
  }
}
