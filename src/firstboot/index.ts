import {writeFileSync} from 'node:fs'
import {mkdir, readFile} from 'node:fs/promises'
import path from 'node:path'

import type {Cluster, Machine} from '../config/types.js'
import {UsageError} from '../errors.js'
import {replaceDirAtomic, writeFileAtomic} from '../fsx.js'
import {renderCloudInit} from './cloud-init.js'
import {renderCoreos} from './coreos.js'
import {clusterStateDir, ensureHostKeys, knownHostsText} from './hostkeys.js'
import {renderIgnition} from './ignition.js'
import {type EtcdJoin, newClusterJoin, nodeBoot} from './model.js'
import {loadTemplates} from './templates.js'

export {etcdUrls, newClusterJoin, type EtcdJoin, type Member} from './model.js'
export {clusterStateDir} from './hostkeys.js'

/** The first-boot formats berth writes. */
export const FORMATS = ['coreos', 'ignition', 'cloud-init'] as const
export type Format = (typeof FORMATS)[number]

const renderers: Record<Format, {ext: string; render: typeof renderCoreos}> = {
  coreos: {ext: 'yaml', render: renderCoreos},
  ignition: {ext: 'ign', render: renderIgnition},
  'cloud-init': {ext: 'yaml', render: renderCloudInit},
}

/** The file name of a machine's first-boot file in a format. */
export function firstBootFileName(machine: Pick<Machine, 'name'>, format: Format): string {
  return `${machine.name}.${renderers[format].ext}`
}

export interface FirstBootOptions {
  format: Format
  outDir: string
  /** Where host keys are remembered; the cluster's folder under the state root by default. */
  stateDir?: string
  /**
   * Write only these machines, joining a running cluster as `join` says (add-machine),
   * next to the files already in outDir. Without it, every machine of a new cluster is
   * written and outDir is replaced as a whole.
   */
  only?: {machines: Machine[]; join: EtcdJoin}
}

/** What was written: the files, and known_hosts for the provisioner. */
export interface FirstBootResult {
  outDir: string
  files: string[]
  knownHosts: string
}

/**
 * First-boot files of `machines` joining as `join` says, rendered one by one as they are
 * iterated (name, text), so 1,000 of them never sit in memory at once. Host keys of every
 * machine in the cluster are ensured first, so known_hosts can name them all.
 */
export async function renderFirstBoot(cluster: Cluster, machines: Machine[], join: EtcdJoin, format: Format, stateDir = clusterStateDir(cluster)): Promise<{files: Iterable<[string, string]>; knownHosts: string}> {
  const everyone = [...new Map([...cluster.machines, ...machines].map((m) => [m.name, m])).values()]
  const [templates, keys] = await Promise.all([loadTemplates(), ensureHostKeys(stateDir, everyone)])
  const {render} = renderers[format]
  function* files(): Generator<[string, string]> {
    for (const m of machines) yield [firstBootFileName(m, format), render(nodeBoot(cluster, m, keys.get(m.name)!, join, templates), templates)]
  }
  return {files: files(), knownHosts: knownHostsText(everyone, keys)}
}

/**
 * Writes each machine's first-boot file (mode 0600: it holds the machine's host key) and
 * a known_hosts file, into outDir. Nothing is half-written: a new cluster's folder is
 * filled aside and swapped in; an added machine's file is written atomically.
 */
export async function writeFirstBoot(cluster: Cluster, options: FirstBootOptions): Promise<FirstBootResult> {
  const stateDir = options.stateDir ?? clusterStateDir(cluster)
  const machines = options.only?.machines ?? cluster.machines
  const join = options.only?.join ?? newClusterJoin(cluster)
  const {files, knownHosts} = await renderFirstBoot(cluster, machines, join, options.format, stateDir)
  await writeFileAtomic(path.join(stateDir, 'known_hosts'), knownHosts, 0o600)
  const outDir = path.resolve(options.outDir)
  const names: string[] = []
  try {
    if (options.only) {
      await mkdir(outDir, {recursive: true, mode: 0o700})
      // A few machines: all rendered before the first is written.
      for (const [name, text] of [...files]) {
        await writeFileAtomic(path.join(outDir, name), text, 0o600)
        names.push(name)
      }
      await writeFileAtomic(path.join(outDir, 'known_hosts'), knownHosts, 0o644)
    } else {
      // The folder is swapped in whole, so its files need no rename of their own. Written
      // synchronously: for 1,000 small files that is 3-5x faster than through libuv's pool.
      await replaceDirAtomic(outDir, async (dir) => {
        for (const [name, text] of files) {
          writeFileSync(path.join(dir, name), text, {mode: 0o600, flag: 'wx'})
          names.push(name)
        }
        writeFileSync(path.join(dir, 'known_hosts'), knownHosts, {mode: 0o644, flag: 'wx'})
      })
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code && ['EACCES', 'EPERM', 'ENOTDIR', 'EROFS', 'EEXIST', 'ENOSPC'].includes(code)) {
      const why = code === 'ENOTDIR' || code === 'EEXIST' ? 'part of the path is a file' : code
      throw new UsageError([{path: `--out ${options.outDir}`, message: `cannot write there (${why})`, fix: 'choose a folder you can write to'}])
    }
    throw error
  }
  return {outDir, files: names.map((n) => path.join(outDir, n)), knownHosts}
}

/** Reads berth's known_hosts for a cluster (written by writeFirstBoot). */
export async function readKnownHosts(cluster: Cluster, stateDir = clusterStateDir(cluster)): Promise<string> {
  return readFile(path.join(stateDir, 'known_hosts'), 'utf8')
}
