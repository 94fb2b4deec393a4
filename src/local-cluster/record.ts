import {mkdir, readFile} from 'node:fs/promises'
import path from 'node:path'

import {UsageError} from '../errors.js'
import {writeFileAtomic} from '../fsx.js'
import {stateRoot} from '../paths.js'
import type {RegistryInfo} from './provider.js'

/** What berth remembers of a local cluster it made: enough to find and remove exactly that. */
export interface LocalRecord {
  name: string
  provider: 'docker' | 'vagrant'
  /** Unique id of the start that made it; every object it made carries it as a label. */
  run: string
  networkId: string
  subnet: string
  registry: RegistryInfo
  image: string
  createdAt: string
}

/** The folder of a local cluster: cluster.yaml, the provisioner key, first-boot files, host keys. */
export function localDir(name: string, root = stateRoot()): string {
  return path.join(root, 'local-clusters', name)
}

/** The files inside a local cluster's folder. */
export function localPaths(dir: string) {
  return {
    record: path.join(dir, 'record.json'),
    clusterFile: path.join(dir, 'cluster.yaml'),
    key: path.join(dir, 'id_ed25519'),
    bootDir: path.join(dir, 'boot'),
    stateDir: path.join(dir, 'state'),
    knownHosts: path.join(dir, 'state', 'known_hosts'),
  }
}

export async function readRecord(dir: string): Promise<LocalRecord | undefined> {
  const text = await readFile(localPaths(dir).record, 'utf8').catch(() => undefined)
  return text === undefined ? undefined : (JSON.parse(text) as LocalRecord)
}

/** The record of an existing local cluster, or a usage error naming the ones that exist. */
export async function requireRecord(dir: string, name: string): Promise<LocalRecord> {
  const record = await readRecord(dir)
  if (!record) throw new UsageError([{path: name, message: 'no local cluster of that name', fix: 'start one with `berth local-cluster start`, or pass --name'}])
  return record
}

export async function writeRecord(dir: string, record: LocalRecord): Promise<void> {
  await mkdir(dir, {recursive: true, mode: 0o700})
  await writeFileAtomic(localPaths(dir).record, `${JSON.stringify(record, null, 2)}\n`, 0o600)
}
