import type {ServiceSpec} from '../../spec/service.js'
import type {RenderedUnit} from './unit.js'

/**
 * The agent's diff: from the desired services and what is on the node, the ordered actions
 * that make the node equal to the desired state. Pure and level-based: it looks only at the
 * world as observed now, so a pass cut short by a crash is completed by the next one.
 */

/** A prefixed unit file on disk and its state in systemd. */
export interface ObservedUnit {
  /** SHA-256 of the file's content; '' for a unit systemd holds whose file is gone. */
  hash: string
  /** systemd's ActiveState: active, activating, reloading, deactivating, inactive or failed. */
  activeState: string
  /** systemd's NeedDaemonReload: the file changed since systemd last loaded it. */
  needsReload?: boolean
}

/** A container carrying `berth.managed=true`, as Docker lists it. */
export interface ObservedContainer {
  id: string
  name: string
  service: string
  specHash: string
  running: boolean
}

/** What is on the node now: unit files by unit name, and berth's containers. */
export interface Observed {
  units: ReadonlyMap<string, ObservedUnit>
  containers: readonly ObservedContainer[]
}

/** The services this node should run, by service name. */
export type Desired = ReadonlyMap<string, ServiceSpec>

/** Renders a service's unit; the agent binds its registry and env-file options into it. */
export type UnitRenderer = (prefix: string, name: string, spec: ServiceSpec) => RenderedUnit

/** One step of a pass; `service` names whose outcome it counts towards. */
export type Action =
  | {kind: 'stop' | 'removeUnit' | 'start' | 'restart'; service: string; unit: string}
  | {kind: 'writeUnit'; service: string; unit: string; content: string}
  | {kind: 'daemonReload'}
  | {kind: 'removeContainer'; service: string; container: string; id: string}

// States in which a container is (or is about to be) running under the unit.
const runningStates = new Set(['active', 'activating', 'reloading'])
const unitSuffix = '.service'

/**
 * Plans one pass, in the order it must run: stop and remove unclaimed units, write changed
 * units, one daemon-reload if a file systemd had loaded changed, start or restart services,
 * then remove orphan containers. Nothing without `prefix` is ever touched. The copies in
 * `hold` are draining (src/agent/drain/drain.ts): their stop or restart, and the unit change
 * that goes with it, wait for a later pass.
 */
export function plan(desired: Desired, observed: Observed, prefix: string, render: UnitRenderer, hold: ReadonlySet<string> = new Set()): Action[] {
  const retire: Action[] = []
  const writes: Action[] = []
  const runs: Action[] = []
  let reload = false
  const containers = containersByName(observed)
  for (const service of [...desired.keys()].sort()) {
    if (hold.has(service)) continue
    const unit = render(prefix, service, desired.get(service) as ServiceSpec)
    const seen = observed.units.get(unit.name)
    const running = seen !== undefined && runningStates.has(seen.activeState)
    if (seen?.hash !== unit.hash) {
      writes.push({kind: 'writeUnit', service, unit: unit.name, content: unit.content})
      // systemd loads a unit it holds no copy of from its file when the unit is first started
      // (252 also retries a cached not-found once the unit directory changed); only a unit it
      // holds an older copy of needs the reload (a start-first copy's new unit does not).
      reload ||= seen !== undefined
      runs.push({kind: running ? 'restart' : 'start', service, unit: unit.name})
    } else if (!running) {
      runs.push({kind: 'start', service, unit: unit.name})
    } else if (containers.get(prefix + service)?.some((c) => c.running && c.specHash !== unit.specHash)) {
      // The file is current but the container is not: a change the unit does not carry (env,
      // secrets: the spec hash is in the label file), or a pass that died between its write
      // and its restart, whose reload the unit's needsReload below still asks for.
      runs.push({kind: 'restart', service, unit: unit.name})
    }
  }
  for (const [name, seen] of [...observed.units].sort(([a], [b]) => compare(a, b))) {
    if (!name.startsWith(prefix) || !name.endsWith(unitSuffix)) continue
    reload ||= seen.needsReload === true
    const service = name.slice(prefix.length, -unitSuffix.length)
    if (desired.has(service) || hold.has(service)) continue
    if (seen.activeState !== 'inactive' && seen.activeState !== 'failed') retire.push({kind: 'stop', service, unit: name})
    retire.push({kind: 'removeUnit', service, unit: name})
  }
  reload ||= retire.some((action) => action.kind === 'removeUnit')
  return [...retire, ...writes, ...(reload ? [{kind: 'daemonReload'} as const] : []), ...runs, ...orphans(desired, observed, prefix)]
}

// Indexed once per pass: looking containers up per service would make a pass quadratic.
function containersByName(observed: Observed): Map<string, ObservedContainer[]> {
  const byName = new Map<string, ObservedContainer[]>()
  for (const c of observed.containers) {
    const name = bareName(c.name)
    byName.set(name, [...(byName.get(name) ?? []), c])
  }
  return byName
}

/** Prefixed berth containers that neither a desired service nor a unit on disk accounts for. */
function orphans(desired: Desired, observed: Observed, prefix: string): Action[] {
  // A container whose unit still exists goes with that unit's stop (docker run --rm).
  const claimed = (name: string): boolean => desired.has(name.slice(prefix.length)) || observed.units.has(name + unitSuffix)
  return observed.containers
    .map((c) => ({...c, name: bareName(c.name)}))
    .filter((c) => c.name.startsWith(prefix) && !claimed(c.name))
    .sort((a, b) => compare(a.name, b.name) || compare(a.id, b.id))
    .map((c) => ({kind: 'removeContainer', service: c.name.slice(prefix.length), container: c.name, id: c.id}))
}

// Docker's API lists names with a leading slash.
function bareName(name: string): string {
  return name.startsWith('/') ? name.slice(1) : name
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
