import type {Etcd3} from 'etcd3'

import {validateServiceSpec} from '../agent/spec.js'
import {type AgentRecord, ETCD_PREFIX, type InstalledRecord, machineKeys} from '../cluster/records.js'
import {BerthError, RetryableError} from '../errors.js'

/**
 * The installer's and status's etcd calls (etcd3, loaded on first use): put the initial
 * services only where absent, write and read the machines' records.
 */

/**
 * Puts each service that etcd does not have yet, in one transaction per key that only
 * creates (`create_revision == 0`): a value changed since (`berth service deploy`) wins.
 * Returns the names it created. Specs are validated first, every problem at once.
 */
export async function seedServices(client: Etcd3, services: Record<string, Record<string, unknown>>, prefix = ETCD_PREFIX): Promise<string[]> {
  const specs = await Promise.all(Object.entries(services).map(async ([name, raw]) => [name, await validateServiceSpec(raw, {file: 'cluster.json', path: `services/${name}`})] as const))
  const created: string[] = []
  for (const [name, spec] of specs) {
    const key = `${prefix}/services/${name}`
    const result = await call(`create ${key}`, () => client.if(key, 'Create', '==', 0).then(client.put(key).value(JSON.stringify(spec))).commit())
    if (result.succeeded) created.push(name)
  }
  return created
}

/** Writes the machine's InstalledRecord. */
export async function putInstalled(client: Etcd3, machine: string, record: InstalledRecord, prefix = ETCD_PREFIX): Promise<void> {
  await call('write the installed record', () => client.put(machineKeys(machine, prefix).installed).value(JSON.stringify(record)).exec())
}

/** One machine's records, as far as they exist. */
export interface MachineRecords {
  installed?: InstalledRecord
  agent?: AgentRecord
}

/** Reads one machine's records. */
export async function readMachine(client: Etcd3, machine: string, prefix = ETCD_PREFIX): Promise<MachineRecords> {
  const keys = machineKeys(machine, prefix)
  const [installed, agent] = await Promise.all([keys.installed, keys.agent].map((key) => call(`read ${key}`, () => client.get(key).string())))
  return {installed: parse<InstalledRecord>(installed), agent: parse<AgentRecord>(agent)}
}

/** Every machine's records under `<prefix>/machines/`, by machine name. */
export async function readAllMachines(client: Etcd3, prefix = ETCD_PREFIX): Promise<Map<string, MachineRecords>> {
  const dir = `${prefix}/machines/`
  const values = await call(`read ${dir}`, () => client.getAll().prefix(dir).strings())
  const machines = new Map<string, MachineRecords>()
  for (const [key, text] of Object.entries(values)) {
    const [machine, kind] = key.slice(dir.length).split('/')
    if (!machine || (kind !== 'installed' && kind !== 'agent')) continue
    const entry = machines.get(machine) ?? {}
    if (kind === 'installed') entry.installed = parse<InstalledRecord>(text)
    else entry.agent = parse<AgentRecord>(text)
    machines.set(machine, entry)
  }
  return machines
}

function parse<T>(text: string | null | undefined): T | undefined {
  if (!text) return undefined
  try {
    return JSON.parse(text) as T
  } catch {
    return undefined
  }
}

async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn()
  } catch (error) {
    if (error instanceof BerthError) throw error
    throw new RetryableError(`etcd: cannot ${what}: ${(error as Error).message.split('\n')[0]}; is etcd running and reachable?`, {cause: error})
  }
}
