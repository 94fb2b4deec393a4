/**
 * One way to reach a machine, whatever it is: a remote host over SSH or a local-cluster
 * node through `docker exec`. A step asks the flow's MachineShells for a machine's shell
 * and runs commands on it; it never knows how the machine is reached. Secrets travel on
 * stdin, never in a command string (the command is quoted in errors).
 */
import type {Readable, Writable} from 'node:stream'

import type {Machine} from '../config/types.js'
import {BerthError, outputTail, RemoteCommandError} from '../errors.js'
import type {FileToWrite, WriteOptions} from './files.js'

export type {FileToWrite, WriteOptions} from './files.js'

/** What a command printed and how it ended; `code` is null when a signal (`SIGTERM`...) ended it. */
export interface ExecResult {
  code: number | null
  signal?: string
  stdout: string
  stderr: string
}

/** Input for a command, and the words an error names it by instead of the command itself. */
export interface RunOptions {
  stdin?: string | Buffer
  /** Names the command in a RemoteCommandError (a long script reads better as what it does). */
  as?: string
}

/** A terminal's size (and its TERM), as a pty request and window changes carry it. */
export interface PtySize {
  rows: number
  cols: number
  term?: string
}

/**
 * A command running on a machine whose output streams as it comes: write `stdin` (end it
 * to close the command's input), read `stdout` and `stderr` (with a pty, everything comes
 * on stdout). `exit` resolves when the command has ended and its output is read, or
 * rejects when the way in is lost; `resize` passes a window change to the pty.
 */
export interface RemoteProcess {
  stdout: Readable
  stderr: Readable
  stdin: Writable
  exit: Promise<{code: number | null; signal?: string}>
  resize: (size: PtySize) => void
}

/** How to start a streaming command: with `pty`, on a terminal of that size. */
export interface StartOptions {
  pty?: PtySize
}

/** How many lines of stderr a RemoteCommandError keeps: the part that says why. */
export const STDERR_TAIL_LINES = 12

/** A shell on one machine. */
export interface MachineShell {
  /** The machine as messages name it: `main-2 (10.0.0.12)`. */
  readonly host: string
  /** Opens the way in now rather than on the first command, so that a flow can tell "cannot reach it" from a failed command. */
  connect(): Promise<void>
  /** Runs a command; resolves its output when it exits 0, else throws RemoteCommandError. */
  run(command: string, options?: RunOptions): Promise<{stdout: string; stderr: string}>
  /** Runs a command and returns how it ended, for callers that branch on the exit code. */
  exec(command: string, options?: Omit<RunOptions, 'as'>): Promise<ExecResult>
  /**
   * Writes files so that readers see each old file or its new one, never a part: a temp
   * file in the same directory with the file's mode (0600 unless given), synced, renamed
   * over the target. The last file goes in place only after every other one is.
   */
  writeFiles(files: readonly FileToWrite[], options?: WriteOptions): Promise<void>
  /** Starts `command` (the login shell when undefined) with its output streaming: logs that follow, a terminal. */
  start(command: string | undefined, options?: StartOptions): Promise<RemoteProcess>
}

/** The machines of one flow: a shell per machine, opened on first use, all closed once at the end. */
export interface MachineShells {
  on(machine: Machine): MachineShell
  close(): Promise<void>
}

/** An open way into one machine (an SSH connection, a container): what an opener returns. */
export interface MachineChannel {
  exec(command: string, options: {stdin?: string | Buffer}): Promise<ExecResult>
  /** Writes files atomically, as MachineShell.writeFiles promises; a channel without it cannot write files. */
  writeFiles?(files: readonly FileToWrite[], options: WriteOptions): Promise<void>
  /** Starts a streaming command, as MachineShell.start promises; a channel without it cannot. */
  start?(command: string | undefined, options: StartOptions): Promise<RemoteProcess>
  /** True once the channel is gone (a dropped connection): the next command opens a new one. */
  readonly lost?: boolean
  close(): Promise<void>
}

/** Opens a channel into one machine; rejects when it cannot be reached. */
export type ChannelOpener = (machine: Machine) => Promise<MachineChannel>

/** The machine as messages name it. */
export function hostName(machine: Pick<Machine, 'name' | 'ip'>): string {
  return machine.name === machine.ip ? machine.ip : `${machine.name} (${machine.ip})`
}

/** Throws RemoteCommandError (host, command, exit code, stderr's tail) unless the command exited 0. */
export function checked(host: string, command: string, result: ExecResult): {stdout: string; stderr: string} {
  if (result.code !== 0) throw new RemoteCommandError(host, command, result.code, outputTail(result.stderr, STDERR_TAIL_LINES), result.signal)
  return {stdout: result.stdout, stderr: result.stderr}
}

/**
 * MachineShells over an opener: one channel per machine (by name) for the whole flow,
 * opened lazily and reused by every command; `close` closes each once.
 */
export function machineShells(open: ChannelOpener): MachineShells {
  const channels = new Map<string, Promise<MachineChannel>>()
  const channel = async (machine: Machine): Promise<MachineChannel> => {
    const cached = channels.get(machine.name)
    if (cached) {
      const c = await cached.catch(() => undefined)
      if (c && !c.lost) return c
      // Another command noticed first and is opening the next channel already: share its promise.
      const now = channels.get(machine.name)
      if (now !== undefined && now !== cached) return channel(machine)
      if (c) void c.close().catch(() => undefined)
    }
    const opening = open(machine)
    channels.set(machine.name, opening)
    // A machine that could not be reached is tried again by the next command.
    opening.catch(() => (channels.get(machine.name) === opening ? channels.delete(machine.name) : undefined))
    return opening
  }
  const shells = new Map<string, MachineShell>()
  return {
    on(machine) {
      const known = shells.get(machine.name)
      if (known) return known
      const host = hostName(machine)
      const exec = async (command: string, options: {stdin?: string | Buffer} = {}) => (await channel(machine)).exec(command, options)
      const unable = (what: string) => new BerthError(`${host}: this way into the machine cannot ${what}`)
      const shell: MachineShell = {
        host,
        exec,
        connect: async () => void await channel(machine),
        run: async (command, options = {}) => checked(host, options.as ?? command, await exec(command, {stdin: options.stdin})),
        async writeFiles(files, options = {}) {
          const c = await channel(machine)
          if (!c.writeFiles) throw unable('write files')
          await c.writeFiles(files, options)
        },
        async start(command, options = {}) {
          const c = await channel(machine)
          if (!c.start) throw unable('start a streaming command')
          return c.start(command, options)
        },
      }
      shells.set(machine.name, shell)
      return shell
    },
    async close() {
      const open = [...channels.values()]
      channels.clear()
      await Promise.all(open.map(async (c) => (await c.catch(() => undefined))?.close()))
    },
  }
}
