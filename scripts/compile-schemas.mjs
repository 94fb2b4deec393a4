// Compiles the JSON Schemas in schema/ into one CommonJS module of validation functions (ajv's generated code requires its runtime helpers)
// (ajv's standalone mode), so no command pays for ajv's schema compiler at run time.
// Run by `npm run build` after tsc; src/schema.ts falls back to compiling at run time
// when the module is missing (a tsc-only build).
import {readFileSync, writeFileSync} from 'node:fs'
import AjvModule from 'ajv'
import standaloneModule from 'ajv/dist/standalone/index.js'

const Ajv = AjvModule.default ?? AjvModule
const standaloneCode = standaloneModule.default ?? standaloneModule
const root = new URL('../', import.meta.url)
const ajv = new Ajv({allErrors: true, verbose: true, strict: false, code: {source: true}})
for (const file of ['service.schema.json', 'cluster.schema.json', 'agent-options.schema.json']) {
  ajv.addSchema(JSON.parse(readFileSync(new URL(`schema/${file}`, root), 'utf8')))
}
// Export name → schema id; src/schema.ts maps ids to these names.
const code = standaloneCode(ajv, {cluster: 'urn:berth:cluster', service: 'urn:berth:service', agentOptions: 'urn:berth:agent-options'})
writeFileSync(new URL('dist/src/schema-validators.cjs', root), code)
