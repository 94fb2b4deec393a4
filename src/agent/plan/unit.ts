import {readFileSync} from 'node:fs'
import {createRequire} from 'node:module'

import {UsageError} from '../../errors.js'
import {shipped} from '../../paths.js'
import {dockerRunArgs, specHash, type RunOptions} from './docker-run.js'
import {containerName, unitName} from '../../layout/node.js'
import {systemdCommandLine, systemdWord} from '../../spec/escape.js'
import {sha256Hex} from '../../hash.js'
import {validateServiceName, type ServiceSpec, type StopTimeout} from '../../spec/service.js'

export {dockerRunArgs, type RunOptions} from './docker-run.js'

/** A unit file ready to be written: its file name, content, and the content's hash. */
export interface RenderedUnit {
  name: string
  content: string
  /** SHA-256 of `content`: a unit on disk with another hash must be replaced. */
  hash: string
  /** The `berth.spec-hash` label its container carries (from the label file, not the unit): a running container with another one is stale. */
  specHash: string
}

type UnitTemplate = (context: Record<string, string | number>) => string

// Seconds docker may spend pulling a missing image before systemd gives up on the start.
const timeoutStartSec = 900
// Beyond the service's own stop timeout, time for docker to kill and remove the container.
const stopGraceSec = 15
const unitPrefix = /^[a-z0-9][a-z0-9-]{0,31}$/

let template: UnitTemplate | undefined

function unitTemplate(): UnitTemplate {
  if (template) return template
  // Handlebars is loaded on first render only; the CLI's other commands never pay for it.
  const Handlebars = createRequire(import.meta.url)('handlebars') as typeof import('handlebars')
  const source = readFileSync(shipped('installer', 'templates', 'service.unit.hbs'), 'utf8')
  template = Handlebars.compile(source, {noEscape: true, strict: true}) as UnitTemplate
  return template
}

/** Throws a UsageError unless `prefix` can start unit and container names (it decides what berth may touch). */
export function validateUnitPrefix(prefix: string): string {
  if (unitPrefix.test(prefix)) return prefix
  throw new UsageError([{path: 'unitPrefix', message: `${JSON.stringify(prefix)} is not a valid unit prefix`, fix: 'use lower-case letters, digits and dashes, like berth-'}])
}

// A replica's part after the service's name: its slot (`web.1`) or a machine name (`web.main-1`).
const replicaSuffix = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/

/**
 * Checks the name a unit is rendered for: a service's (a global service: `<prefix>web`, as
 * always) or one of its replicas' (`web.1` → `<prefix>web.1`; service names hold no dot,
 * so observe's unit and container names map back to the replica unambiguously).
 */
export function validateInstanceName(name: string): string {
  const dot = name.indexOf('.')
  if (dot < 0) return validateServiceName(name, {path: `services/${name}`})
  validateServiceName(name.slice(0, dot), {path: `services/${name.slice(0, dot)}`})
  if (replicaSuffix.test(name.slice(dot + 1))) return name
  throw new UsageError([{path: `replicas/${name}`, message: `${JSON.stringify(name)} is not a replica id`, fix: 'replica ids are SERVICE.SLOT or SERVICE.MACHINE'}])
}

/**
 * The `docker run` words as continuation lines, one option per line up to the image, for a
 * unit a person can read. An escaped word never ends in a bare backslash, so every
 * line-ending backslash is a continuation berth wrote.
 */
function runArgLines(args: string[], spec: ServiceSpec, source: {path: string}): string {
  const imageAt = args.length - (spec.command?.length ?? 0) - 1
  const lines: string[][] = [[]]
  args.forEach((word, i) => {
    if (i > 2 && i <= imageAt && (word.startsWith('--') || i === imageAt)) lines.push([])
    lines.at(-1)?.push(word)
  })
  return lines.map((words) => systemdCommandLine(words, source)).join(' \\\n    ')
}

/**
 * The unit's stop settings for a stop timeout: `docker stop -t` seconds and systemd's
 * TimeoutStopSec. For `infinity`, `docker stop -t -1` sends SIGTERM and waits with no
 * deadline (dockerd 20.10, the nodes' version, takes a negative time as "wait forever":
 * measured with a container that took 25 s to exit on SIGTERM and exited by itself), and
 * `TimeoutStopSec=infinity` keeps systemd from killing the stop while it waits.
 */
export function stopSettings(stopTimeout: StopTimeout): {stopTimeout: number; timeoutStopSec: number | 'infinity'} {
  if (stopTimeout === 'infinity') return {stopTimeout: -1, timeoutStopSec: 'infinity'}
  return {stopTimeout, timeoutStopSec: stopTimeout + stopGraceSec}
}

/** Renders a service's systemd unit from installer/templates/service.unit.hbs. */
export function renderUnit(prefix: string, name: string, spec: ServiceSpec, opts: RunOptions = {}): RenderedUnit {
  validateUnitPrefix(prefix)
  const source = {path: `services/${validateInstanceName(name)}`}
  const hash = specHash(prefix, name, spec, opts)
  const content = unitTemplate()({
    containerName: systemdWord(containerName(prefix, name), source),
    runArgs: runArgLines(dockerRunArgs(prefix, name, spec, opts), spec, source),
    ...stopSettings(spec.stopTimeout),
    restart: spec.restart,
    timeoutStartSec,
  })
  return {name: unitName(prefix, name), content, hash: sha256Hex(content), specHash: hash}
}

/**
 * A renderer for the agent's loop that renders each spec object once: the desired-state
 * cache keeps unchanged specs as the same objects between passes, so an idle pass only diffs.
 */
export function cachingRenderer(opts: RunOptions = {}): (prefix: string, name: string, spec: ServiceSpec) => RenderedUnit {
  const rendered = new WeakMap<ServiceSpec, {prefix: string; name: string; unit: RenderedUnit}>()
  return (prefix, name, spec) => {
    const hit = rendered.get(spec)
    if (hit?.prefix === prefix && hit.name === name) return hit.unit
    const unit = renderUnit(prefix, name, spec, opts)
    rendered.set(spec, {prefix, name, unit})
    return unit
  }
}
