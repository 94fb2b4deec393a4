// Precompiles what commands would otherwise compile at every start, into dist/src:
// - the JSON Schemas in schema/, as ajv standalone validators (schema-validators.cjs,
//   which requires ajv's runtime helpers), sparing ajv's compiler (~150 ms);
// - the Handlebars templates in cloud-config/, as template specs next to their sources
//   (templates.cjs), so first-boot files need only Handlebars' runtime (~20 ms less).
// Run by `npm run build` after tsc. src/schema.ts and src/firstboot/templates.ts compile
// at run time instead when a module is missing (a tsc-only build) or a template changed.
import {readFileSync, writeFileSync} from 'node:fs'
import AjvModule from 'ajv'
import standaloneModule from 'ajv/dist/standalone/index.js'
import Handlebars from 'handlebars'

const root = new URL('../', import.meta.url)

const Ajv = AjvModule.default ?? AjvModule
const standaloneCode = standaloneModule.default ?? standaloneModule
const ajv = new Ajv({allErrors: true, verbose: true, strict: false, code: {source: true}})
for (const file of ['service.schema.json', 'cluster.schema.json', 'agent-options.schema.json']) {
  ajv.addSchema(JSON.parse(readFileSync(new URL(`schema/${file}`, root), 'utf8')))
}
// Export name → schema id; src/schema.ts maps ids to these names.
const code = standaloneCode(ajv, {cluster: 'urn:berth:cluster', service: 'urn:berth:service', agentOptions: 'urn:berth:agent-options'})
writeFileSync(new URL('dist/src/schema-validators.cjs', root), code)

// The template names and compile options are src/firstboot/templates.ts's.
const {TEMPLATE_NAMES, COMPILE_OPTIONS} = await import(new URL('dist/src/firstboot/templates.js', root).href)
const entries = TEMPLATE_NAMES.map((name) => {
  const source = readFileSync(new URL(`cloud-config/${name}.hbs`, root), 'utf8')
  return `  ${JSON.stringify(name)}: {source: ${JSON.stringify(source)}, spec: ${Handlebars.precompile(source, COMPILE_OPTIONS)}},`
})
writeFileSync(new URL('dist/src/firstboot/templates.cjs', root), `module.exports = {\n${entries.join('\n')}\n}\n`)
