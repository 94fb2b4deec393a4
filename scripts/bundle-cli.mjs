// Makes dist/cli/oclif.cjs, @oclif/core in one file, and V8's code cache for it, which
// src/cli/fast-start.ts uses for help and the version. Run by `npm run build` after the
// manifest: the cache comes from a real `berth --help` run, so it holds the functions help
// compiles, not only the top level.
import {execFileSync} from 'node:child_process'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {build} from 'esbuild'

const root = fileURLToPath(new URL('../', import.meta.url))
const fastStart = pathToFileURL(`${root}dist/src/cli/fast-start.js`).href
const {OCLIF_BUNDLE} = await import(fastStart)

await build({
  entryPoints: [`${root}node_modules/@oclif/core/lib/execute.js`],
  outfile: OCLIF_BUNDLE,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // oclif loads TypeScript only to run a plugin from its sources, which a built berth never does.
  external: ['typescript', 'ts-node'],
  logLevel: 'warning',
})

// Run help from the bundle in a child (its output discarded), then keep what V8 compiled.
const warm = `
  import {renameSync, writeFileSync} from 'node:fs'
  import {loadOclifBundle, OCLIF_CODE_CACHE} from ${JSON.stringify(fastStart)}
  const {execute, script} = loadOclifBundle()
  await execute({dir: ${JSON.stringify(pathToFileURL(`${root}bin/run.js`).href)}, args: ['--help']})
  writeFileSync(OCLIF_CODE_CACHE + '.tmp', script.createCachedData())
  renameSync(OCLIF_CODE_CACHE + '.tmp', OCLIF_CODE_CACHE)
`
execFileSync(process.execPath, ['--input-type=module', '-e', warm], {stdio: ['ignore', 'ignore', 'inherit']})
