#!/usr/bin/env node
// The berth CLI. Commands live in dist/commands (built from commands/); the shipped
// oclif.manifest.json lets help answer without loading any of them. Help and the version
// run from a one-file bundle of oclif with a code cache (src/cli/fast-start.ts); the rest
// imports `execute` alone, not @oclif/core's index.
import {answeredFromManifest, loadOclifBundle} from '../dist/src/cli/fast-start.js'

const bundled = answeredFromManifest(process.argv.slice(2)) ? loadOclifBundle() : undefined
const {execute} = bundled ?? (await import('@oclif/core/execute'))
await execute({dir: import.meta.url})
