import {readFile} from 'node:fs/promises'
import path from 'node:path'

import type {Cluster, Machine} from '../config/types.js'
import {writeFileAtomic} from '../fsx.js'
import {addToOutDir, cannotWrite, inspectOutDir, type OutFile, replaceOutDir, requireAddable, requireReplaceable} from '../out-dir.js'
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
   * written and berth's earlier output in outDir is replaced as a whole.
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
 * a known_hosts file, into outDir, which may hold nothing berth did not write there
 * (src/out-dir.ts): a new cluster's files replace berth's last output, and files of
 * machines no longer in the cluster go; an added machine's file goes next to the others.
 * The state dir may not be inside outDir. Every refusal comes before any key is made.
 */
export async function writeFirstBoot(cluster: Cluster, options: FirstBootOptions): Promise<FirstBootResult> {
  const stateDir = options.stateDir ?? clusterStateDir(cluster)
  const machines = options.only?.machines ?? cluster.machines
  const join = options.only?.join ?? newClusterJoin(cluster)
  const label = `--out ${options.outDir}`
  const out = await cannotWrite(label, async () => {
    const found = await inspectOutDir(options.outDir, label, [{label: '--state-dir', dir: stateDir}])
    if (options.only) requireAddable(found, [...machines.map((m) => firstBootFileName(m, options.format)), 'known_hosts'])
    else requireReplaceable(found)
    return found
  })
  const {files, knownHosts} = await renderFirstBoot(cluster, machines, join, options.format, stateDir)
  await writeFileAtomic(path.join(stateDir, 'known_hosts'), knownHosts, 0o600)
  const names = await cannotWrite(label, async () => {
    if (options.only) {
      // A few machines: all rendered before the first is written.
      const few: OutFile[] = [...files].map(([name, text]) => [name, text, 0o600])
      await addToOutDir(out, [...few, ['known_hosts', knownHosts, 0o644]])
      return few.map(([name]) => name)
    }
    function* all(): Generator<OutFile> {
      for (const [name, text] of files) yield [name, text, 0o600]
      yield ['known_hosts', knownHosts, 0o644]
    }
    return (await replaceOutDir(out, all())).slice(0, -1)
  })
  return {outDir: out.dir, files: names.map((n) => path.join(out.dir, n)), knownHosts}
}

/** Reads berth's known_hosts for a cluster (written by writeFirstBoot). */
export async function readKnownHosts(cluster: Cluster, stateDir = clusterStateDir(cluster)): Promise<string> {
  return readFile(path.join(stateDir, 'known_hosts'), 'utf8')
}
