import {stripVTControlCharacters} from 'node:util'

import {Command} from '@oclif/core/command'
import * as Flags from '@oclif/core/flags'

import {BerthError, UsageError, formatProblem, type Problem} from '../errors.js'

/** What oclif's parser throws for bad usage: `parse` set, `oclif.exit` 2. */
interface ParseError extends Error {
  parse?: unknown
  oclif?: {exit?: number}
  args?: {name: string}[]
  flags?: string[]
}

/**
 * Every berth command: `--verbose` for stack traces, and berth's errors turned into one
 * line per problem and the exit code the error carries (2 for bad usage or config).
 */
export abstract class BerthCommand extends Command {
  static override baseFlags = {
    verbose: Flags.boolean({description: 'Show stack traces and debug output on failure.', helpGroup: 'GLOBAL'}),
  }

  protected get verbose(): boolean {
    return process.argv.includes('--verbose')
  }

  protected override async catch(error: Error & {exitCode?: number}): Promise<unknown> {
    // With --json, bad usage is one JSON error too, not oclif's whole error object (its config included).
    if (isParseError(error) && this.jsonEnabled()) return this.catch(usageFromParse(error, `${this.config.bin} ${this.id?.replaceAll(':', ' ') ?? ''}`.trim()))
    if (!(error instanceof BerthError)) return super.catch(error)
    if (this.jsonEnabled()) {
      const problems = error instanceof UsageError ? error.problems : [{message: error.message}]
      this.logJson({error: {type: error.name, message: error.message, problems}})
    } else {
      const lines = error instanceof UsageError ? error.problems.map(formatProblem) : [error.message]
      for (const line of lines) process.stderr.write(`berth: ${line}\n`)
      if (this.verbose && error.stack) process.stderr.write(`${error.stack}\n`)
    }
    return this.exit(error.exitCode)
  }
}

function isParseError(error: Error): error is ParseError {
  const e = error as ParseError
  return e.parse !== undefined || e.oclif?.exit === 2
}

/** oclif's parse error as berth's problems: one per missing argument, unknown flag or failed flag rule. */
function usageFromParse(error: ParseError, command: string): UsageError {
  const fix = `see \`${command} --help\``
  const lines = stripVTControlCharacters(error.message).split('\n').map((l) => l.trim())
  let problems: Problem[]
  if (Array.isArray(error.args) && /^Missing \d+ required arg/.test(lines[0] ?? '')) {
    problems = error.args.map((a) => ({path: a.name, message: 'missing required argument', fix}))
  } else if (Array.isArray(error.flags) && error.flags.length > 0) {
    problems = error.flags.map((f) => ({path: f, message: 'no such flag', fix}))
  } else {
    problems = lines.filter((l) => l !== '' && !/^The following errors? occurred:$|^See more help with --help$/.test(l)).map((message) => ({message, fix}))
  }
  return new UsageError(problems)
}
