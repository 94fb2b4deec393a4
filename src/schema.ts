import {readFileSync} from 'node:fs'
import type {ErrorObject, ValidateFunction} from 'ajv'

import type {Problem} from './errors.js'
import {shipped} from './paths.js'

/**
 * JSON Schema validation for berth's documents (cluster.yaml, service specs). The schemas
 * in schema/ are the contract editors autocomplete from; ajv checks them and every error
 * becomes a Problem with its path and a fix. ajv is loaded on first use only.
 */
const compiled = new Map<string, ValidateFunction>()

/** Export names of the validators `npm run build` precompiles (scripts/precompile.mjs). */
const precompiledNames: Record<string, string> = {'urn:berth:cluster': 'cluster', 'urn:berth:service': 'service', 'urn:berth:agent-options': 'agentOptions'}

async function validator(schemaId: string): Promise<ValidateFunction> {
  const cached = compiled.get(schemaId)
  if (cached) return cached
  // The precompiled module spares every command ajv's compiler (~150 ms); a tsc-only
  // build has none, and compiles the schemas here instead.
  const precompiled = await import(new URL('./schema-validators.cjs', import.meta.url).href).then(
    (m: {default: Record<string, ValidateFunction>}) => m.default[precompiledNames[schemaId] ?? ''],
    () => undefined,
  )
  if (precompiled) {
    compiled.set(schemaId, precompiled)
    return precompiled
  }
  const {default: AjvModule} = await import('ajv')
  // ajv is CommonJS: under NodeNext its class is the module itself or its `default`.
  const Ajv = ((AjvModule as unknown as {default?: unknown}).default ?? AjvModule) as typeof AjvModule.default
  const ajv = new Ajv({allErrors: true, verbose: true, strict: false})
  for (const file of ['service.schema.json', 'cluster.schema.json', 'agent-options.schema.json']) {
    ajv.addSchema(JSON.parse(readFileSync(shipped('schema', file), 'utf8')))
  }
  const validate = ajv.getSchema(schemaId)
  if (!validate) throw new Error(`schema ${schemaId} is not shipped`)
  compiled.set(schemaId, validate)
  return validate
}

/** Checks `value` against the schema `schemaId` (urn:berth:cluster, urn:berth:service, urn:berth:agent-options); returns every problem. */
export async function schemaProblems(schemaId: string, value: unknown, file?: string, basePath = ''): Promise<Problem[]> {
  const validate = await validator(schemaId)
  if (validate(value)) return []
  // A bad property name is reported once, by propertyNames, not again by the pattern inside it;
  // an if/then's own line only says that the branch's errors (listed too) exist.
  return (validate.errors ?? []).filter((e) => e.propertyName === undefined && e.keyword !== 'if').map((e) => toProblem(e, file, basePath))
}

function joinPath(...parts: string[]): string {
  return parts.filter(Boolean).join('/')
}

function toProblem(error: ErrorObject, file: string | undefined, basePath: string): Problem {
  const at = joinPath(basePath, error.instancePath.slice(1))
  const description = (error.parentSchema as {description?: string} | undefined)?.description
  const params = error.params as Record<string, unknown>
  switch (error.keyword) {
    case 'additionalProperties': {
      const allowed = Object.keys((error.schema === false ? (error.parentSchema as {properties?: object})?.properties : undefined) ?? {})
      return {file, path: joinPath(at, String(params.additionalProperty)), message: 'unknown key', fix: allowed.length > 0 ? `remove it; known keys here: ${allowed.join(', ')}` : 'remove it'}
    }
    case 'required':
      return {file, path: joinPath(at, String(params.missingProperty)), message: 'is required', fix: 'add it; `berth cluster init` writes a commented example'}
    case 'enum':
      return {file, path: at, message: `${JSON.stringify(error.data)} is not allowed`, fix: `use one of: ${(params.allowedValues as unknown[]).join(', ')}`}
    case 'pattern':
      return {file, path: at, message: `${JSON.stringify(error.data)} is not valid`, fix: description ?? `it must match ${String(params.pattern)}`}
    case 'propertyNames':
      return {file, path: joinPath(at, String(params.propertyName)), message: 'is not a valid name', fix: (error.schema as {description?: string} | undefined)?.description ?? 'use lower-case letters, digits and dashes'}
    case 'type':
      return {file, path: at, message: `must be ${article(String(params.type))}`, fix: description}
    default:
      return {file, path: at, message: error.message ?? 'is invalid', fix: description}
  }
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`
}
