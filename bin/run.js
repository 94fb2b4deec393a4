#!/usr/bin/env node
// The berth CLI. Commands live in dist/commands (built from commands/); the shipped
// oclif.manifest.json lets `--help` answer without loading any of them, and importing
// `execute` alone (not @oclif/core's index) keeps start-up near node's own.
import {execute} from '@oclif/core/execute'

await execute({dir: import.meta.url})
