import {rm} from 'node:fs/promises'
import {execa} from 'execa'

import {berth} from './cli.js'

/**
 * Removes a test's local cluster whatever happened to it: `local-cluster destroy` by its
 * record, then every container that still carries the run's unique label, then the
 * scratch state folder.
 */
export async function destroyLocalCluster(name: string, env: Record<string, string>, stateDir: string): Promise<void> {
  await berth(['local-cluster', 'destroy', '--name', name], {env})
  const left = (await execa('docker', ['ps', '-aq', '--filter', `label=berth.cluster=${name}`])).stdout.split('\n').filter(Boolean)
  if (left.length > 0) await execa('docker', ['rm', '-fv', ...left], {reject: false})
  await rm(stateDir, {recursive: true, force: true})
}
