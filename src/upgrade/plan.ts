/**
 * The plan of a rolling upgrade, as data: which machines go together, in what order.
 * Workers and data machines go first, in waves of up to `maxParallel`; main machines go
 * last and always alone. Why that order: workers hold no etcd member, so the new installer
 * is tried first where a failure cannot touch etcd's quorum (a canary), and the machines
 * that carry the control plane are upgraded only once it has proven itself, one at a time
 * so that at most one etcd member's node is ever out of service.
 */
import type {Machine, Role} from '../config/types.js'

/** Machines upgraded at the same time; main machines are always alone in theirs. */
export interface Wave {
  index: number
  role: Role
  machines: string[]
}

/** The order roles are taken in: workers and data machines before main machines. */
const ROLE_ORDER: Record<Role, number> = {worker: 0, data: 1, main: 2}

/**
 * Splits the machines into waves: workers, then data machines, in groups of `maxParallel`
 * (in cluster.yaml's order), then each main machine alone. A wave never takes every
 * machine of a role that has more than one: a service that runs only on workers (say)
 * keeps a server behind the balancer. `skip` leaves out machines already done (a resumed
 * upgrade).
 */
export function planWaves(machines: readonly Pick<Machine, 'name' | 'role'>[], maxParallel: number, skip: readonly string[] = []): Wave[] {
  if (!Number.isInteger(maxParallel) || maxParallel < 1) throw new RangeError(`maxParallel must be a whole number ≥ 1, not ${maxParallel}`)
  const todo = machines
    .map((m, position) => ({...m, position}))
    .filter((m) => !skip.includes(m.name))
    .sort((a, b) => ROLE_ORDER[a.role] - ROLE_ORDER[b.role] || a.position - b.position)
  const waves: Wave[] = []
  for (const machine of todo) {
    const last = waves.at(-1)
    const ofRole = machines.filter((m) => m.role === machine.role).length
    const size = machine.role === 'main' ? 1 : Math.max(1, Math.min(maxParallel, ofRole - 1))
    if (last && last.role === machine.role && last.machines.length < size) last.machines.push(machine.name)
    else waves.push({index: waves.length + 1, role: machine.role, machines: [machine.name]})
  }
  return waves
}

/** The machines of the waves in the order they are taken. */
export function orderOf(waves: readonly Wave[]): string[] {
  return waves.flatMap((w) => w.machines)
}

/** The plan as a table for `--dry-run`: wave, role, machines. */
export function planTable(waves: readonly Wave[], done: readonly string[] = []): string {
  const rows = [['wave', 'role', 'machines'], ...waves.map((w) => [String(w.index), w.role, w.machines.join(', ')])]
  if (done.length > 0) rows.push(['done', '', done.join(', ')])
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n')
}
