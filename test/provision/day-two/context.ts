import assert from 'node:assert/strict'

import type {CliResult} from '../../support/cli.js'

/**
 * What a day-two check gets: the provisioned 3-node local cluster of the provision suite
 * (main-1..main-3, the example service `web` active on each), shared so that each check
 * costs no cluster boot of its own.
 */
export interface DayTwoCluster {
  /** The local cluster's name (`--local-cluster NAME`, `--name NAME`). */
  name: string
  /** Environment for berth: BERTH_STATE_DIR points at the run's scratch state folder. */
  env: Record<string, string>
  /** The scratch state folder. */
  dir: string
  /** Runs berth with the cluster's environment. */
  berth: (args: string[], options?: {input?: string}) => Promise<CliResult>
  /** Runs a shell command on a node as root, over berth's own SSH. */
  sh: (machine: string, command: string) => Promise<CliResult>
  /** The node's container name, for `docker exec` from the host. */
  container: (machine: string) => string
}

/** One part's checks; each becomes an it() of the provision suite, run in order. */
export interface DayTwoPart {
  name: string
  checks: {title: string; run: (cluster: DayTwoCluster) => Promise<void>}[]
}

/** A berth run's stdout, after asserting it exited 0 (its stderr, or stdout, as the message). */
export function ok(result: CliResult): string {
  assert.equal(result.exitCode, 0, result.stderr || result.stdout)
  return result.stdout
}

/** One row of `service ps SERVICE --json`, as far as the checks read it. */
export interface PsRow {replica: string; machine?: string; observed: string; revision?: string}

/** `service ps SERVICE --json`'s rows on the cluster. */
export async function psRows(c: DayTwoCluster, service: string): Promise<PsRow[]> {
  return (JSON.parse(ok(await c.berth(['service', 'ps', service, '--json', '--local-cluster', c.name]))) as {replicas: PsRow[]}).replicas
}

/** The image of the example service `web`, as stored (every node has it; the cluster's registry serves it). */
export async function webImage(c: DayTwoCluster): Promise<string> {
  const {services} = JSON.parse(ok(await c.berth(['service', 'ls', '--json', '--local-cluster', c.name]))) as {services: Array<{name: string; spec: {image: string}}>}
  const image = services.find((s) => s.name === 'web')?.spec.image
  assert.ok(image, 'web is listed')
  return image
}
