/**
 * One error class per condition. Commands translate them into exit codes and one-line
 * messages; library errors (ssh2, etcd3, dockerode) are wrapped at the boundary.
 */

/** Base of every error berth raises on purpose; `exitCode` is what the CLI exits with. */
export class BerthError extends Error {
  readonly exitCode: number = 1
  /** Set on errors a caller may retry (a busy etcd, a node still booting). */
  readonly retryable: boolean = false
  constructor(message: string, options?: {cause?: unknown}) {
    super(message, options)
    this.name = new.target.name
  }
}

/** A problem found in user input: where it is (`file: path`) and how to fix it. */
export interface Problem {
  file?: string
  path?: string
  message: string
  fix?: string
}

/** Renders one problem as the single line users read: `cluster.yaml: machines/2/ip: ... (fix)`. */
export function formatProblem(p: Problem): string {
  const where = [p.file, p.path].filter((s) => s !== undefined && s !== '').join(': ')
  const fix = p.fix ? ` (${p.fix})` : ''
  return `${where ? `${where}: ` : ''}${p.message}${fix}`
}

/** Bad usage or bad configuration: exit code 2, every problem listed at once. */
export class UsageError extends BerthError {
  override readonly exitCode = 2
  readonly problems: Problem[]
  constructor(problems: Problem[] | string) {
    const list = typeof problems === 'string' ? [{message: problems}] : problems
    super(list.map(formatProblem).join('\n'))
    this.problems = list
  }
}

/**
 * A command that failed on a machine: the host, the command (or what it does), its exit
 * code (null when a signal ended it) and the tail of its stderr. Secrets go on the
 * command's stdin, never in the command, so the message can quote it.
 */
export class RemoteCommandError extends BerthError {
  constructor(
    readonly host: string,
    readonly command: string,
    readonly code: number | null,
    readonly stderr: string,
    readonly signal?: string,
  ) {
    super(`${host}: \`${command}\` exited with ${code ?? (signal ? `signal ${signal}` : 'a signal')}${stderr.trim() ? `: ${stderr.trim()}` : ''}`)
  }
}

/** A failure worth retrying after a moment (etcd busy after a membership change, a node booting). */
export class RetryableError extends BerthError {
  override readonly retryable = true
}

/** A precondition that makes an operation unsafe (quorum would break); `--force` may override. */
export class UnsafeOperationError extends BerthError {
  override readonly exitCode = 2
}

/** The last `lines` lines of a tool's output, for an error message: the part that says why. */
export function outputTail(output: string | undefined, lines: number, separator = '\n'): string {
  return (output ?? '').trim().split('\n').slice(-lines).join(separator)
}
