import {constants} from 'node:os'

import type {MachineShell, PtySize} from '../machine/shell.js'

/**
 * Joins this process's terminal (or pipes) to a command on a machine: stdin goes there,
 * its stdout and stderr come here, and with a terminal the size goes with the pty request
 * and every window change after it. The remote exit code becomes the answer.
 */

/** The three streams a command is attached to (this process's own unless a test passes others). */
export interface Stdio {
  stdin: NodeJS.ReadableStream & {isTTY?: boolean; setRawMode?: (raw: boolean) => unknown}
  stdout: NodeJS.WritableStream & {columns?: number; rows?: number; on: NodeJS.WriteStream['on']; off: NodeJS.WriteStream['off']}
  stderr: NodeJS.WritableStream
}

/** Whether to ask for a pty: as told, else for an interactive session (no command) when stdin is a terminal. */
export function wantsTty(flag: boolean | undefined, interactive: boolean, stdin: {isTTY?: boolean} = process.stdin): boolean {
  return flag ?? (interactive && stdin.isTTY === true)
}

/** The terminal's size now (80x24 when stdout is not one), with $TERM. */
export function terminalSize(stdout: Stdio['stdout']): PtySize {
  return {rows: stdout.rows || 24, cols: stdout.columns || 80, term: process.env.TERM || 'xterm-256color'}
}

/** The exit code of a remote command: its own, or 128 + the signal's number as a shell reports it. */
export function exitCodeOf(exit: {code: number | null; signal?: string}): number {
  if (exit.code !== null) return exit.code
  const name = (exit.signal ?? '').replace(/^(SIG)?/, 'SIG') as keyof typeof constants.signals
  return 128 + (constants.signals[name] ?? 0)
}

/** Runs `command` (the login shell when undefined) attached to `stdio`; resolves with its exit code. */
export async function attach(shell: MachineShell, command: string | undefined, options: {tty: boolean; stdio?: Stdio}): Promise<number> {
  const stdio = options.stdio ?? (process as unknown as Stdio)
  const remote = await shell.start(command, {pty: options.tty ? terminalSize(stdio.stdout) : undefined})
  const raw = options.tty && stdio.stdin.isTTY === true && typeof stdio.stdin.setRawMode === 'function'
  const onInput = (chunk: Buffer) => remote.stdin.write(chunk)
  const onEnd = () => remote.stdin.end()
  const onResize = () => remote.resize(terminalSize(stdio.stdout))
  remote.stdout.on('data', (chunk: Buffer) => stdio.stdout.write(chunk))
  remote.stderr.on('data', (chunk: Buffer) => stdio.stderr.write(chunk))
  if (raw) stdio.stdin.setRawMode!(true)
  stdio.stdin.on('data', onInput)
  stdio.stdin.on('end', onEnd)
  if (options.tty) stdio.stdout.on('resize', onResize)
  try {
    return exitCodeOf(await remote.exit)
  } finally {
    if (raw) stdio.stdin.setRawMode!(false)
    stdio.stdin.off('data', onInput)
    stdio.stdin.off('end', onEnd)
    stdio.stdout.off('resize', onResize)
    stdio.stdin.pause()
    // A pipe that never ends (a parent that keeps it open) must not keep this process alive.
    ;(stdio.stdin as {unref?: () => void}).unref?.()
  }
}
