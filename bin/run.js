#!/usr/bin/env node
// The berth CLI. Commands live in dist/commands (built from commands/); the shipped
// oclif.manifest.json lets `--help` answer without loading any of them.
import {execute} from '@oclif/core'

await execute({dir: import.meta.url})
