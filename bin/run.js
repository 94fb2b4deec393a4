#!/usr/bin/env node
// The berth CLI. Commands live in dist/commands (built from commands/); the shipped
// oclif.manifest.json lets help answer without loading any of them. Help and the version
// run from a one-file bundle of oclif with a code cache (src/cli/fast-start.ts); the rest
// imports `execute` alone, not @oclif/core's index.
const fastStart = new URL('../dist/src/cli/fast-start.js', import.meta.url)
const {answeredFromManifest, loadOclifBundle} = await import(fastStart.href).catch((error) => {
  // A checkout that was never built has no dist/: say what to do instead of a stack trace.
  // Exit 1, not 2: the command line may be right, the tree it runs from is incomplete.
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes(fastStart.pathname)) throw error
  process.stderr.write(`berth: ${new URL('..', import.meta.url).pathname} has not been built (no dist/): run \`npm run build\` there first\n`)
  process.exit(1)
})

const bundled = answeredFromManifest(process.argv.slice(2)) ? loadOclifBundle() : undefined
const {execute} = bundled ?? (await import('@oclif/core/execute'))
await execute({dir: import.meta.url})
