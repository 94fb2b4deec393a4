/**
 * Start-up for what oclif answers from the shipped manifest alone: help and the version.
 *
 * Loading @oclif/core from node_modules means resolving and compiling some 150 files, more
 * than half of `berth --help`. scripts/bundle-cli.mjs makes one file of it
 * (dist/cli/oclif.cjs) and V8's code cache for that file, made by a help run at build time;
 * with both, help starts in about two thirds of the time (README, "Measured").
 *
 * Only help and the version take that path. Commands import @oclif/core from node_modules,
 * and one process must not hold two copies of oclif's classes: its error handling tests
 * `instanceof`.
 */
import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import path from 'node:path'
import {fileURLToPath} from 'node:url'
import vm from 'node:vm'

/** dist/cli/oclif.cjs, next to dist/src. */
export const OCLIF_BUNDLE = fileURLToPath(new URL('../../cli/oclif.cjs', import.meta.url))
export const OCLIF_CODE_CACHE = `${OCLIF_BUNDLE}.cache`

type Execute = (options: {dir: string; args?: string[]}) => Promise<unknown>

/**
 * Whether oclif will answer `argv` with help or the version: its `main.run` shows help for
 * no arguments or a `--help` before any `--`, and the version for a leading `--version`,
 * before it looks for a command.
 */
export function answeredFromManifest(argv: readonly string[]): boolean {
  if (argv.length === 0 || argv[0] === '--version') return true
  const end = argv.indexOf('--')
  return argv.slice(0, end === -1 ? undefined : end).includes('--help')
}

/**
 * The bundle's `execute`, compiled with the code cache when V8 accepts it (a cache made by
 * another Node version is rejected and the file compiled as usual), and the compiled script,
 * which the build asks for the cache. Undefined when the build made no bundle.
 */
export function loadOclifBundle(): {execute: Execute; script: vm.Script} | undefined {
  let source: string
  try {
    source = readFileSync(OCLIF_BUNDLE, 'utf8')
  } catch {
    return undefined
  }
  let cachedData: Buffer | undefined
  try {
    cachedData = readFileSync(OCLIF_CODE_CACHE)
  } catch {
    // compiled without it
  }
  // A CommonJS module's wrapper; the cache is only valid for this exact text.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: OCLIF_BUNDLE,
    cachedData,
    // oclif imports ESM (hooks, commands) with import(); resolve it as the main context would.
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  })
  const module = {exports: {} as {execute: Execute}}
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void
  wrapper(module.exports, createRequire(OCLIF_BUNDLE), module, OCLIF_BUNDLE, path.dirname(OCLIF_BUNDLE))
  return {execute: module.exports.execute, script}
}
