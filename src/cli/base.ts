import {Command} from '@oclif/core/command'
import * as Flags from '@oclif/core/flags'

import {BerthError, UsageError, formatProblem} from '../errors.js'

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
