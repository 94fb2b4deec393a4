import {BerthError} from '../errors.js'
import {shellQuote} from '../recovery/node-commands.js'
import type {MachineShell, MachineShells} from '../machine/shell.js'
import type {Replica} from './replicas.js'
import {attach, type Stdio, wantsTty} from './terminal.js'

/**
 * `service exec`: a command (or a shell) inside a replica's container, through `docker
 * exec` on its machine. The command lines are pure functions; `requireRunning` asks the
 * machine first, so that a stopped replica is explained instead of "No such container".
 */

/** The shell an interactive exec starts: bash where the image has it, else sh. */
export const SHELL = ['sh', '-c', 'if command -v bash >/dev/null 2>&1; then exec bash; fi; exec sh']

/** `docker exec -i [-t] CONTAINER ARGV…`, each word quoted: the argv reaches the container as given. */
export function dockerExecCommand(container: string, argv: readonly string[] | undefined, tty: boolean): string {
  return ['docker', 'exec', '-i', ...(tty ? ['-t'] : []), shellQuote(container), ...(argv?.length ? argv : SHELL).map(shellQuote)].join(' ')
}

const UNIT_PROPERTIES = ['LoadState', 'ActiveState', 'SubState', 'Result', 'ExecMainStatus', 'StateChangeTimestamp']

/** One round trip: `running`, or the unit's state and its journal's last lines. */
export function runningCheckCommand(replica: Pick<Replica, 'container' | 'unit'>): string {
  return [
    `if [ "$(docker inspect --format '{{.State.Running}}' ${shellQuote(replica.container)} 2>/dev/null)" = true ]; then echo running; exit 0; fi`,
    `systemctl show ${shellQuote(replica.unit)} --property=${UNIT_PROPERTIES.join(',')}`,
    'echo ---',
    `journalctl -u ${shellQuote(replica.unit)} -n 3 -o cat --no-pager --quiet 2>/dev/null`,
    'true',
  ].join('\n')
}

/** A replica whose container is not running: where it last ran and why it stopped. */
export class ReplicaNotRunningError extends BerthError {}

/** Why a replica is not running, in one sentence, from what runningCheckCommand printed. */
export function notRunningMessage(replica: Pick<Replica, 'id' | 'unit'> & {machine: {name: string}}, output: string): string {
  const [show = '', journal = ''] = output.split(/^---$/m)
  const props = Object.fromEntries(show.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
  const state = props.LoadState === 'not-found' ? 'not there (no unit file)' : props.ActiveState ? `${props.ActiveState}${props.SubState ? ` (${props.SubState})` : ''}` : 'unknown'
  const why = [props.Result && props.Result !== 'success' ? `result ${props.Result}` : '', props.ExecMainStatus && props.ExecMainStatus !== '0' ? `exit status ${props.ExecMainStatus}` : ''].filter(Boolean).join(', ')
  const since = props.StateChangeTimestamp ? ` since ${props.StateChangeTimestamp}` : ''
  const last = journal.trim().split('\n').filter(Boolean).slice(-3).join(' / ')
  return `${replica.id} is not running: it last ran on ${replica.machine.name}, where ${replica.unit} is ${state}${since}${why ? `, ${why}` : ''}${last ? `; its last lines: ${last}` : ''}`
}

/** Resolves when the replica's container is running; else throws ReplicaNotRunningError saying why. */
export async function requireRunning(shell: MachineShell, replica: Replica): Promise<void> {
  const result = await shell.run(runningCheckCommand(replica))
  if (result.stdout.trim() === 'running') return
  throw new ReplicaNotRunningError(notRunningMessage(replica, result.stdout))
}

/**
 * Runs `argv` (a shell when empty) in the replica's container, attached to this process's
 * terminal or pipes, and resolves with its exit code. A pty is used when stdin is a
 * terminal, unless `tty` says otherwise. One shell on the machine for both; the caller
 * closes `machines`.
 */
export async function execInReplica(machines: MachineShells, replica: Replica, argv: readonly string[], options: {tty?: boolean; stdio?: Stdio} = {}): Promise<number> {
  const shell = machines.on(replica.machine)
  await requireRunning(shell, replica)
  const tty = wantsTty(options.tty, true, options.stdio?.stdin)
  return attach(shell, dockerExecCommand(replica.container, argv, tty), {tty, stdio: options.stdio})
}
