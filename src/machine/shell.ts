/**
 * One way to reach a machine, whatever it is: a remote host over SSH or a local-cluster
 * node through `docker exec`. A step asks the flow's MachineShells for a machine's shell
 * and runs commands on it; it never knows how the machine is reached. Secrets travel on
 * stdin, never in a command string (the command is quoted in errors).
 */
import type {Machine} from '../config/types.js'
import {outputTail, RemoteCommandError} from '../errors.js'

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

/** How many lines of stderr a RemoteCommandError keeps: the part that says why. */
export const STDERR_TAIL_LINES = 12

/** A shell on one machine. */
export interface MachineShell {
  /** The machine as messages name it: `main-2 (10.0.0.12)`. */
  readonly host: string
  /** Runs a command; resolves its output when it exits 0, else throws RemoteCommandError. */
  run(command: string, options?: RunOptions): Promise<{stdout: string; stderr: string}>
  /** Runs a command and returns how it ended, for callers that branch on the exit code. */
  exec(command: string, options?: Omit<RunOptions, 'as'>): Promise<ExecResult>
}

/** The machines of one flow: a shell per machine, opened on first use, all closed once at the end. */
export interface MachineShells {
  on(machine: Machine): MachineShell
  close(): Promise<void>
}

/** An open way into one machine (an SSH connection, a container): what an opener returns. */
export interface MachineChannel {
  exec(command: string, options: {stdin?: string | Buffer}): Promise<ExecResult>
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
      const shell: MachineShell = {
        host,
        exec,
        run: async (command, options = {}) => checked(host, options.as ?? command, await exec(command, {stdin: options.stdin})),
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
