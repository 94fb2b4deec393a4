import {BerthError} from '../errors.js'
import type {EnvValue} from './types.js'

/**
 * Content for `docker run --env-file`, the only way env values and secrets reach a container:
 * never argv (visible in `ps`), never the unit file. Docker reads the file line by line with
 * no quoting, so a value cannot hold a line break, and a line over 64 KiB is refused by its
 * scanner; both are rejected here rather than silently cut.
 */

// bufio.Scanner's default limit in docker's env-file parser: a longer line fails the start.
const maxLineBytes = 64 * 1024 - 1

/** Turns an env value into the string the container sees: objects and arrays as JSON, null as empty. */
export function envString(value: EnvValue): string {
  if (value === null) return ''
  if (typeof value === 'object') return JSON.stringify(value)
  return String(value)
}

/** Returns why `NAME=value` cannot be a line of a docker env file, or undefined when it can. */
export function envLineProblem(name: string, value: string): string | undefined {
  // bufio.ScanLines splits on \n and drops a trailing \r; NUL ends the C string dockerd passes on.
  const bad = /[\n\r\0]/.exec(value)
  if (bad) return `contains ${bad[0] === '\0' ? 'a NUL byte' : 'a line break'}, which docker env files cannot carry`
  const bytes = Buffer.byteLength(`${name}=${value}`)
  if (bytes > maxLineBytes) return `is ${bytes} bytes long; docker env-file lines stop at ${maxLineBytes}`
  return undefined
}

/** An env value or secret that cannot be written to an env file; names the variable, never the value. */
export class EnvFileError extends BerthError {}

/**
 * Renders the env file for one service: its env (sorted by name) then its decrypted secrets.
 * Throws an EnvFileError naming the variable when a value cannot be carried, or a name is both.
 */
export function renderEnvFile(env: Readonly<Record<string, EnvValue>> = {}, secrets: ReadonlyMap<string, string> = new Map()): string {
  const lines: string[] = []
  for (const name of Object.keys(env).sort()) {
    if (secrets.has(name)) throw new EnvFileError(`env ${name} is also a secret; a variable may come from only one of them`)
    lines.push(envLine('env', name, envString(env[name] as EnvValue)))
  }
  for (const name of [...secrets.keys()].sort()) lines.push(envLine('secret', name, secrets.get(name) as string))
  return lines.map((line) => `${line}\n`).join('')
}

function envLine(kind: 'env' | 'secret', name: string, value: string): string {
  const problem = envLineProblem(name, value)
  if (problem === undefined) return `${name}=${value}`
  const fix = kind === 'secret' ? 'store it base64-encoded and decode it in the container' : 'put it in a mounted file instead'
  throw new EnvFileError(`${kind} ${name} ${problem}; ${fix}`)
}
