import {readdir, readFile} from 'node:fs/promises'
import path from 'node:path'

import {RESERVED_SERVICE_NAMES} from '../../spec/service.js'
import {sha256Hex} from '../../hash.js'
import type {Observed, ObservedUnit} from '../plan/reconcile.js'
import type {NodeContainer, NodeOps} from './node-ops.js'

/**
 * What is on the node now, read fresh on every pass: the prefixed unit files on disk (by
 * content hash), their state in systemd, the prefixed units systemd still holds without a
 * file (hash ''), and Docker's containers labelled `berth.managed`.
 * Only names with the prefix are ever read; the system's own units are left out entirely,
 * so no plan can stop or remove them.
 */

/** A unit as observed, with systemd's SubState (`auto-restart` shows a crash loop) and NRestarts. */
export interface NodeUnit extends ObservedUnit {
  subState?: string
  restarts?: number
}

/** Observed state with what the API and the status report need and the plan ignores. */
export interface NodeObserved extends Observed {
  units: ReadonlyMap<string, NodeUnit>
  containers: readonly NodeContainer[]
}

/**
 * True for the units and containers of the system itself (`<prefix>agent.service`, the
 * installer's `<prefix>installer.*`, first boot's `<prefix>unseal.service`): berth
 * installs them, and no service may claim them.
 */
export function isReservedName(prefix: string, name: string): boolean {
  const bare = name.replace(/^\//, '')
  return RESERVED_SERVICE_NAMES.some((r) => bare === `${prefix}${r}` || bare.startsWith(`${prefix}${r}.`))
}

/** Reads the node's berth state: unit files and states in `unitDir`, berth's containers. */
export async function observeNode(ops: NodeOps, prefix: string, unitDir: string): Promise<NodeObserved> {
  const [units, containers] = await Promise.all([observeUnits(ops, prefix, unitDir), ops.containers()])
  return {units, containers: containers.filter((c) => !isReservedName(prefix, c.name))}
}

async function observeUnits(ops: NodeOps, prefix: string, unitDir: string): Promise<Map<string, NodeUnit>> {
  const names = (await readdir(unitDir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[]
    throw error
  })).filter((name) => name.startsWith(prefix) && name.endsWith('.service') && !isReservedName(prefix, name)).sort()
  const hashes = await Promise.all(names.map(async (name) => {
    // A file removed between readdir and read is simply not there any more.
    const text = await readFile(path.join(unitDir, name), 'utf8').catch(() => undefined)
    return [name, text === undefined ? undefined : sha256Hex(text)] as const
  }))
  const present = hashes.filter((entry): entry is readonly [string, string] => entry[1] !== undefined)
  const states = await ops.unitStates(present.map(([name]) => name), `${prefix}*.service`)
  const units = new Map<string, NodeUnit>()
  for (const [name, hash] of present) {
    const state = states.get(name)
    units.set(name, {hash, activeState: state?.activeState ?? 'inactive', subState: state?.subState, needsReload: state?.needsReload ?? false, restarts: state?.restarts})
  }
  // A unit systemd still holds whose file is gone (a removal cut short before its reload):
  // the plan must reload before it writes that name again, or systemd would run its old copy.
  for (const [name, state] of states) {
    if (units.has(name) || !name.startsWith(prefix) || !name.endsWith('.service') || isReservedName(prefix, name)) continue
    if (state.loadState === undefined || state.loadState === 'not-found') continue
    units.set(name, {hash: '', activeState: state.activeState, subState: state.subState, needsReload: true, restarts: state.restarts})
  }
  return units
}
