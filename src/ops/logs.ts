import type {Machine} from '../config/types.js'
import {outputTail, RemoteCommandError} from '../errors.js'
import {type MachineShell, type MachineShells, STDERR_TAIL_LINES} from '../machine/shell.js'
import {type JournalEntry, type JournalQuery, journalCommand, lineSplitter, parseJournalLine} from './journal.js'
import type {Replica} from './replicas.js'

/**
 * `service logs`: every replica's journal through the flow's machine shells (SSH, one
 * connection per machine, which the caller closes at the end). First the
 * backlog of every replica, merged by time (the last `tail` of it); then, to follow, one
 * `journalctl --follow` per replica from just after the last entry it sent, printed as it
 * comes. A machine that cannot be reached, or goes away, is reported once; the rest go on.
 */

/** One line of one replica's output. */
export interface LogLine {
  atUs: number
  machine: string
  replica: string
  service: string
  message: string
}

/** Where lines and unreachable machines go, as they happen. */
export interface LogSink {
  line: (line: LogLine) => void
  unreachable: (machine: string, reason: string) => void
}

/** What to read: `since` and `tail` as journalctl takes them; `follow` keeps going. */
export interface LogOptions {
  since?: string
  tail?: number
  follow?: boolean
  /** The command that prints a replica's journal as JSON lines (journalctl; a test may print its own). */
  command?: JournalCommand
}

/** Builds the command that prints what `query` asks of `replica`'s journal. */
export type JournalCommand = (query: JournalQuery, replica: Replica) => string

/** Lines of several replicas in time order (stable for equal times), only the last `tail` when given. */
export function mergeByTime(lists: LogLine[][], tail?: number): LogLine[] {
  const merged = lists.flat().sort((a, b) => a.atUs - b.atUs)
  return tail === undefined ? merged : merged.slice(Math.max(0, merged.length - tail))
}

interface Session {
  shell: MachineShell
  machine: Machine
  replicas: {replica: Replica; lines: LogLine[]; cursor?: string}[]
}

/** Reads (and with `follow` keeps reading) the logs of `replicas`; resolves with the machines that failed. */
export async function streamLogs(replicas: Replica[], machines: MachineShells, options: LogOptions, sink: LogSink): Promise<{failed: string[]}> {
  const command = options.command ?? journalCommand
  const failed = new Set<string>()
  const fail = (machine: string, error: unknown) => {
    if (failed.has(machine)) return
    failed.add(machine)
    sink.unreachable(machine, (error as Error).message)
  }
  const sessions = (await Promise.all(byMachine(replicas).map(async (group) => backlog(group, machines.on(group.machine), command, options).catch((error: unknown) => {
    fail(group.machine.name, error)
    return undefined
  })))).filter((s): s is Session => s !== undefined)
  for (const line of mergeByTime(sessions.flatMap((s) => s.replicas.map((r) => r.lines)), options.tail)) sink.line(line)
  if (options.follow) {
    await Promise.all(sessions.map((s) => Promise.all(s.replicas.map((r) => follow(s.shell, r.replica, r.cursor, command, options, sink))).catch((error: unknown) => fail(s.machine.name, error))))
  }
  return {failed: [...failed]}
}

function byMachine(replicas: Replica[]): {machine: Machine; replicas: Replica[]}[] {
  const groups = new Map<string, {machine: Machine; replicas: Replica[]}>()
  for (const r of replicas) {
    const group = groups.get(r.machine.name) ?? {machine: r.machine, replicas: []}
    group.replicas.push(r)
    groups.set(r.machine.name, group)
  }
  return [...groups.values()]
}

/** One machine's shell and the backlog of each of its replicas, with the cursor to follow on from. */
async function backlog(group: {machine: Machine; replicas: Replica[]}, shell: MachineShell, command: JournalCommand, options: LogOptions): Promise<Session> {
  const replicas = await Promise.all(group.replicas.map(async (replica) => {
    const query = command({unit: replica.unit, since: options.since, tail: options.tail}, replica)
    const {stdout} = await shell.run(query)
    const entries = stdout.split('\n').map(parseJournalLine).filter((e): e is JournalEntry => e !== undefined)
    return {replica, lines: entries.map((e) => lineOf(replica, e)), cursor: entries.at(-1)?.cursor}
  }))
  return {shell, machine: group.machine, replicas}
}

/** Follows one replica's journal until the command or the connection ends; an end is an error (the caller names the machine). */
async function follow(shell: MachineShell, replica: Replica, cursor: string | undefined, command: JournalCommand, options: LogOptions, sink: LogSink): Promise<void> {
  // Without a cursor the backlog was empty: everything of the selection from now on is new.
  const query = command({unit: replica.unit, since: cursor ? undefined : options.since, follow: {afterCursor: cursor}}, replica)
  const remote = await shell.start(query)
  const stderr: Buffer[] = []
  const lines = lineSplitter((text) => {
    const entry = parseJournalLine(text)
    if (entry) sink.line(lineOf(replica, entry))
  })
  remote.stdout.on('data', (chunk: Buffer) => lines.push(chunk))
  remote.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
  const {code} = await remote.exit
  lines.end()
  throw new RemoteCommandError(shell.host, query, code, outputTail(Buffer.concat(stderr).toString('utf8'), STDERR_TAIL_LINES))
}

function lineOf(replica: Replica, entry: JournalEntry): LogLine {
  return {atUs: entry.atUs, machine: replica.machine.name, replica: replica.id, service: replica.service, message: entry.message}
}
