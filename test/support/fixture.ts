import {cp} from 'node:fs/promises'
import path from 'node:path'

import {loadClusterFile} from '../../src/config/load.js'
import type {Cluster} from '../../src/config/types.js'
import {packageRoot} from '../../src/paths.js'
import {scratch} from './cli.js'

/** A file in test/fixtures. */
export function fixture(...parts: string[]): string {
  return path.join(packageRoot, 'test', 'fixtures', ...parts)
}

/** The fixture cluster and a private copy of its state dir (fixed host keys). */
export async function fixtureCluster(): Promise<{cluster: Cluster; stateRoot: string; stateDir: string}> {
  const {cluster} = await loadClusterFile(fixture('cluster.yaml'))
  const stateRoot = await scratch('berth-state-')
  await cp(fixture('state'), stateRoot, {recursive: true})
  return {cluster, stateRoot, stateDir: path.join(stateRoot, 'clusters', cluster.name)}
}
