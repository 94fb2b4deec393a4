import {setTimeout as sleep} from 'node:timers/promises'
/**
 * What the upgrade end-to-end test and the rolling-upgrade bench share: a CLI bound to one
 * local cluster and state folder, cleanup by the run's unique label, a new installer image
 * made from the one provisioned (a changed label, so its tag differs), and a sampler of
 * etcd's members that shows whether a machine ever left them.
 */
import {execa} from 'execa'

import {loadClusterFile} from '../../src/config/load.js'
import {EtcdCluster} from '../../src/etcd/client.js'
import {localDir, localPaths} from '../../src/local-cluster/record.js'
import {berth, type CliResult} from '../support/cli.js'

/** Runs `berth GROUP COMMAND --name NAME ARGS` with the state folder set. */
export function localCli(name: string, stateDir: string): (args: string[]) => Promise<CliResult> {
  return (args) => berth([...args.slice(0, 2), '--name', name, ...args.slice(2)], {env: {BERTH_STATE_DIR: stateDir}})
}

/** Runs `berth ARGS --local-cluster NAME` (the cluster commands pointed at the local cluster). */
export function clusterCli(name: string, stateDir: string): (args: string[]) => Promise<CliResult> {
  return (args) => berth([...args, '--local-cluster', name], {env: {BERTH_STATE_DIR: stateDir}})
}

/** Removes every container, network and volume carrying the cluster's label (the run's own name). */
export async function removeLabelled(name: string): Promise<void> {
  const list = async (args: string[]) => (await execa('docker', [...args, '--filter', `label=berth.cluster=${name}`], {reject: false})).stdout.split('\n').filter(Boolean)
  for (const id of await list(['ps', '-a', '-q'])) await execa('docker', ['rm', '-fv', id], {reject: false})
  for (const id of await list(['network', 'ls', '-q'])) await execa('docker', ['network', 'rm', id], {reject: false})
  for (const id of await list(['volume', 'ls', '-q'])) await execa('docker', ['volume', 'rm', id], {reject: false})
}

/** The ids of the containers carrying the cluster's label. */
export async function labelledContainers(name: string): Promise<string[]> {
  return (await execa('docker', ['ps', '-a', '-q', '--filter', `label=berth.cluster=${name}`])).stdout.split('\n').filter(Boolean)
}

/**
 * Builds `<repo>:<tag>-<suffix>` from the provisioned installer image with one more label
 * (no layer changes, so pushing it moves little) and pushes it through a node.
 */
export async function newInstallerImage(name: string, provisioned: string, suffix: string): Promise<string> {
  const local = provisioned.split('/').slice(1).join('/')
  const next = `${local}-${suffix}`
  await execa('docker', ['build', '-q', '-t', next, '-'], {input: `FROM ${local}\nLABEL berth.test.upgrade=${suffix}\n`, env: {DOCKER_BUILDKIT: '0'}})
  const node = (await execa('docker', ['ps', '-q', '--filter', `label=berth.cluster=${name}`, '--filter', 'label=berth.role=node'])).stdout.split('\n')[0]!
  const {pushImage} = await import('../../src/images/push.js')
  // Through the node on purpose: the host's dockerd may trust the registry, and this keeps
  // the save | load | push path of pushImage exercised.
  const pushed = await pushImage([next], provisioned.split('/')[0]!, {viaNode: node, throughNode: true})
  if (pushed.via !== 'node') throw new Error(`expected a push through ${node}, got ${pushed.via}`)
  return next.split(':').at(-1)!
}

/** Removes the tags `newInstallerImage` made on this host (the image's layers are the provisioned one's). */
export async function dropInstallerImage(provisioned: string, tag: string): Promise<void> {
  const [registry, ...rest] = provisioned.split('/')
  const local = `${rest.join('/').split(':')[0]}:${tag}`
  await execa('docker', ['image', 'rm', local, `${registry}/${local}`], {reject: false})
}

/** Samples etcd's voting members every 300 ms until stopped; returns each sample's sorted names, or its error. */
export async function sampleMembers(name: string, stateDir: string): Promise<{stop: () => Promise<string[]>}> {
  const {cluster} = await loadClusterFile(localPaths(localDir(name, stateDir)).clusterFile)
  const etcd = await EtcdCluster.connect(cluster.machines.filter((m) => m.role === 'main').map((m) => `http://${m.ip}:${cluster.etcd.clientPort}`))
  const samples: string[] = []
  let running = true
  const loop = (async () => {
    while (running) {
      const members = await etcd.members().catch((error: Error) => error.message)
      samples.push(typeof members === 'string' ? `error: ${members}` : members.filter((m) => !m.isLearner).map((m) => m.name).sort().join(' '))
      await sleep(300)
    }
  })()
  return {stop: async () => {
    running = false
    await loop
    etcd.close()
    return samples
  }}
}

/** The installed record of each machine, from `cluster status --json`. */
export async function installed(cluster: (args: string[]) => Promise<CliResult>): Promise<Record<string, {version: string; result: string; at: string}>> {
  const status = await cluster(['cluster', 'status', '--json'])
  if (status.exitCode !== 0) throw new Error(`cluster status failed: ${status.stderr}`)
  const machines = (JSON.parse(status.stdout) as {machines: {name: string; installed?: {version: string; result: string; at: string}}[]}).machines
  return Object.fromEntries(machines.map((m) => [m.name, m.installed ?? {version: '', result: 'none', at: ''}]))
}
