import {readFile} from 'node:fs/promises'
import {isMap, isSeq, parseDocument} from 'yaml'

import {UsageError} from '../errors.js'
import {writeFileAtomic} from '../fsx.js'
import type {Machine} from './types.js'

/**
 * Changes the machines list of cluster.yaml in place, keeping the operator's comments
 * and layout, and writes it atomically. add-machine and remove-machine record the
 * cluster's new shape here once etcd has accepted it.
 */
async function editMachines(file: string, edit: (machines: import('yaml').YAMLSeq) => void): Promise<void> {
  const doc = parseDocument(await readFile(file, 'utf8'))
  const machines = doc.get('machines', true)
  if (!isSeq(machines)) throw new UsageError([{file, path: 'machines', message: 'is not a list', fix: 'run `berth cluster validate`'}])
  edit(machines)
  await writeFileAtomic(file, doc.toString())
}

/** Appends a machine to cluster.yaml (no-op when one of that name is there). */
export async function addMachineToFile(file: string, machine: Machine): Promise<void> {
  await editMachines(file, (machines) => {
    if (machines.items.some((item) => isMap(item) && item.get('name') === machine.name)) return
    const entry: Record<string, unknown> = {name: machine.name, ip: machine.ip, role: machine.role}
    if (Object.keys(machine.labels).length > 0) entry.labels = machine.labels
    const node = machines.items[0]
    const created = parseDocument('{}').createNode(entry)
    // Match the list's style: flow entries ({name: …}) when the first entry is one.
    if (isMap(node) && node.flow) created.flow = true
    machines.items.push(created)
  })
}

/** Removes the machine of that name from cluster.yaml (no-op when it is not there). */
export async function removeMachineFromFile(file: string, name: string): Promise<void> {
  await editMachines(file, (machines) => {
    machines.items = machines.items.filter((item) => !(isMap(item) && item.get('name') === name))
  })
}
