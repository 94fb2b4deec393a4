import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after} from 'node:test'
import {execa} from 'execa'

import {packageRoot} from '../../src/paths.js'

/** The CLI's output and exit code. */
export interface CliResult {
  exitCode: number
  stdout: string
  stderr: string
}

/** Runs `bin/run.js ARGS` as a user would, never throwing on a non-zero exit. */
export async function berth(args: string[], options: {cwd?: string; env?: Record<string, string>; input?: string} = {}): Promise<CliResult> {
  const result = await execa(process.execPath, [path.join(packageRoot, 'bin', 'run.js'), ...args], {
    cwd: options.cwd,
    env: {NO_COLOR: '1', ...options.env},
    input: options.input,
    reject: false,
  })
  return {exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr)}
}

/** A fresh temporary folder, removed when the test file ends. */
export async function scratch(prefix = 'berth-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix))
  after(() => rm(dir, {recursive: true, force: true}))
  return dir
}
