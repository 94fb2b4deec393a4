import {mkdir, readFile} from 'node:fs/promises'
import path from 'node:path'

import type {NodeOps, UnitState} from '../../src/agent/node/node-ops.js'
import type {NodeContainer} from '../../src/agent/node/node-ops.js'
import type {AgentOptions} from '../../src/agent/options.js'
import {createAgent, type Agent} from '../../src/agent/wiring/runtime.js'
import {createMasterKey} from '../../src/secrets/local-key.js'
import {scratch} from '../support/cli.js'

/** A real agent (file store, local master key, unit files in a scratch folder) over a {@link FakeNode}. */
export async function fakeNodeAgent(resyncSeconds = 60, prefix = 'berth-loop-'): Promise<{agent: Agent; node: FakeNode; dir: string; unitDir: string; envDir: string; masterKeyFile: string}> {
  const dir = await scratch(prefix)
  const unitDir = path.join(dir, 'units')
  const envDir = path.join(dir, 'run-berth')
  const masterKeyFile = path.join(dir, 'master.key')
  await createMasterKey(masterKeyFile)
  const options: AgentOptions = {
    file: path.join(dir, 'agent.json'), listen: '127.0.0.1:0', store: {kind: 'file', path: path.join(dir, 'desired.yaml')},
    tokenFile: path.join(dir, 'token'), allowedOrigins: [], insecureHttp: true, secrets: {kind: 'local', masterKeyFile},
    unitPrefix: 'berth-', unitDir, machine: 'main-1', role: 'main', resyncSeconds,
  }
  const node = new FakeNode(unitDir)
  await mkdir(unitDir, {recursive: true})
  return {agent: createAgent(options, {ops: node, envFileDir: envDir}), node, dir, unitDir, envDir, masterKeyFile}
}

/**
 * A node for the loop's tests, where systemd cannot run (PID 1 is not systemd here; the real
 * node is exercised by node-e2e.test.ts). Unit files are real files in a scratch directory;
 * `start` reads the unit's own `docker run` line (and the label file it names) to give its
 * container the spec hash they say, so a stale unit or label file yields a stale container,
 * as on a real node.
 */
export class FakeNode implements NodeOps {
  readonly states = new Map<string, UnitState>()
  readonly containersById = new Map<string, NodeContainer>()
  readonly calls: string[] = []
  readonly badImages = new Set<string>()
  /** Loaded unit content per unit, as systemd holds it until daemon-reload. */
  readonly loaded = new Map<string, string>()
  /** Called before every systemctl command; a test may make it wait or throw. */
  gate: (args: readonly string[]) => Promise<void> = async () => {}
  #next = 1

  constructor(readonly unitDir: string) {}

  async unitStates(units: readonly string[], loaded?: string): Promise<Map<string, UnitState>> {
    const out = new Map<string, UnitState>()
    // A glob (`berth-*.service`) adds the units held in memory, as systemctl expands it.
    const [head = '', tail = ''] = loaded?.split('*') ?? []
    const held = loaded === undefined ? [] : [...this.loaded.keys()].filter((u) => u.startsWith(head) && u.endsWith(tail))
    for (const unit of new Set([...units, ...held])) {
      const disk = await readFile(path.join(this.unitDir, unit), 'utf8').catch(() => undefined)
      const state = this.states.get(unit) ?? {activeState: 'inactive', needsReload: false}
      const loadState = disk !== undefined || this.loaded.has(unit) ? 'loaded' : 'not-found'
      out.set(unit, {...state, loadState, needsReload: this.loaded.has(unit) && this.loaded.get(unit) !== disk})
    }
    return out
  }

  async systemctl(args: readonly string[]): Promise<void> {
    await this.gate(args)
    this.calls.push(args.join(' '))
    const [verb, unit = ''] = args
    if (verb === 'daemon-reload') {
      this.loaded.clear()
      for (const name of this.states.keys()) this.states.get(name)!.needsReload = false
      return
    }
    if (verb === 'stop') return this.#stop(unit)
    if (verb === 'reset-failed') return
    if (verb === 'start' || verb === 'restart') {
      // systemd runs the copy it holds until a daemon-reload, and loads one it does not hold from disk.
      const content = this.loaded.get(unit) ?? await readFile(path.join(this.unitDir, unit), 'utf8').catch(() => undefined)
      if (content === undefined) throw new Error(`Unit ${unit} not found.`)
      if (verb === 'restart') this.#stop(unit)
      else if (this.states.get(unit)?.activeState === 'active') return
      this.loaded.set(unit, content)
      const name = unit.replace(/\.service$/, '')
      // ExecStartPre=-docker rm -f NAME
      for (const [id, c] of this.containersById) if (c.name === name) this.containersById.delete(id)
      // docker run --label-file: the hash is read when the container starts, as docker does.
      const labelFile = /--label-file (\S+)/.exec(content)?.[1]
      const labels = labelFile === undefined ? '' : await readFile(labelFile, 'utf8').catch(() => '')
      const specHash = /^berth\.spec-hash=([0-9a-f]+)$/m.exec(labels)?.[1] ?? ''
      const service = /berth\.service=([a-z0-9-]+)/.exec(content)?.[1] ?? ''
      const id = `c${this.#next++}`.padEnd(64, '0')
      this.containersById.set(id, {id, name, service, specHash, running: true, image: 'from-unit'})
      this.states.set(unit, {activeState: 'active', subState: 'running', needsReload: false})
      return
    }
    throw new Error(`fake systemctl: ${args.join(' ')} not understood`)
  }

  async containers(): Promise<NodeContainer[]> {
    return [...this.containersById.values()].map((c) => ({...c}))
  }

  async removeContainer(id: string): Promise<void> {
    this.calls.push(`docker rm -f ${id.slice(0, 4)}`)
    this.containersById.delete(id)
  }

  async ensureImage(ref: string): Promise<void> {
    if (this.badImages.has(ref)) throw new Error(`image ${ref} is not on the node and cannot be pulled: not found`)
  }

  /** Adds a berth-labelled container no unit owns, as a crash can leave. */
  addContainer(name: string, service: string): string {
    const id = `o${this.#next++}`.padEnd(64, '0')
    this.containersById.set(id, {id, name, service, specHash: 'x', running: true, image: 'old'})
    return id
  }

  /** Running containers by name, sorted, as `docker ps` would show them. */
  running(): string[] {
    return [...this.containersById.values()].filter((c) => c.running).map((c) => c.name).sort()
  }

  #stop(unit: string): void {
    const name = unit.replace(/\.service$/, '')
    for (const [id, c] of this.containersById) if (c.name === name) this.containersById.delete(id)
    this.states.set(unit, {activeState: 'inactive', subState: 'dead', needsReload: false})
  }
}
