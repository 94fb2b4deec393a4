import type {Etcd3} from 'etcd3'

import {shortSpecHash, specHash} from '../hash.js'
import {validateServiceSpec, type ServiceSpec} from '../spec/service.js'
import {auditEntry, cliOrigin} from '../audit/entry.js'
import {type AgentRecord, ETCD_PREFIX, type InstalledRecord, machineKeys, machinesDir, rolloutKeys, serviceKey} from '../layout/records.js'
import {appendRevision, revisionOps} from '../scheduler/revisions.js'
import type {RecordStore} from '../etcd/records.js'

/**
 * The installer's and status's records: put the initial services only where absent,
 * write and read the machines' records. Machine records are read leniently: one damaged
 * record must not hide the others.
 */

/**
 * Puts each service that etcd does not have yet, in one transaction per key that only
 * creates, with its audit entry: a value changed since (`berth service deploy`) wins.
 * Returns the names it created. Specs are validated first, every problem at once; `pin`
 * pins each to its image's digest as the admin API's PUT does (src/images/pin.ts).
 */
export async function seedServices(store: RecordStore, services: Readonly<Record<string, unknown>>, prefix = ETCD_PREFIX, pin?: (name: string, spec: ServiceSpec) => Promise<ServiceSpec>): Promise<string[]> {
  const specs = await Promise.all(Object.entries(services).map(async ([name, raw]) => [name, await validateServiceSpec(raw, {file: 'cluster.json', path: `services/${name}`})] as const))
  const audit = await store.auditLog(prefix)
  const created: string[] = []
  for (const [name, written] of specs) {
    const spec = pin ? await pin(name, written) : written
    const key = serviceKey(name, prefix)
    const entry = auditEntry({action: 'service.put', target: name, before: null, after: specHash(spec), detail: {by: 'installer'}}, cliOrigin())
    // Its first revision goes with it, as with every change (src/agent/store/store-etcd.ts): the scheduler's assignments name it, and a copy whose revision is not kept runs the current spec, so without it the first change would restart every copy at once.
    const revision = appendRevision(name, await revisionValues(store, name, prefix), {spec, hash: shortSpecHash(spec), at: new Date().toISOString(), origin: 'cli', note: 'installed'}, prefix)
    const ops = (c: Etcd3) => [c.put(key).value(JSON.stringify(spec)), ...revisionOps(c, revision)]
    if (await audit.commit(entry, {guard: {key, revision: '0'}, ops})) created.push(name)
  }
  return created
}

/** The raw values under a service's revisions (left by nothing but a crash between a delete's steps; their keys number the next one). */
async function revisionValues(store: RecordStore, name: string, prefix: string): Promise<Record<string, string>> {
  return Object.fromEntries([...await store.getAll<unknown>(rolloutKeys(name, prefix).revisions, {lenient: true})].map(([k, v]) => [k, JSON.stringify(v)]))
}

/** Writes the machine's InstalledRecord. */
export async function putInstalled(store: RecordStore, machine: string, record: InstalledRecord, prefix = ETCD_PREFIX): Promise<void> {
  await store.put(machineKeys(machine, prefix).installed, record)
}

/** One machine's records, as far as they exist. */
export interface MachineRecords {
  installed?: InstalledRecord
  agent?: AgentRecord
}

/** Reads one machine's records. */
export async function readMachine(store: RecordStore, machine: string, prefix = ETCD_PREFIX): Promise<MachineRecords> {
  const keys = machineKeys(machine, prefix)
  const [installed, agent] = await Promise.all([store.get<InstalledRecord>(keys.installed, {lenient: true}), store.get<AgentRecord>(keys.agent, {lenient: true})])
  return {installed, agent}
}

/** Every machine's records under `<prefix>/machines/`, by machine name. */
export async function readAllMachines(store: RecordStore, prefix = ETCD_PREFIX): Promise<Map<string, MachineRecords>> {
  const dir = machinesDir(prefix)
  const machines = new Map<string, MachineRecords>()
  for (const [key, record] of await store.getAll<InstalledRecord & AgentRecord>(dir, {lenient: true})) {
    const [machine, kind] = key.slice(dir.length).split('/')
    if (!machine || (kind !== 'installed' && kind !== 'agent')) continue
    machines.set(machine, {...machines.get(machine), [kind]: record})
  }
  return machines
}
