import {BerthError, outputTail} from '../errors.js'
import {LABEL} from './provider.js'

/**
 * Containers a local cluster runs beside its nodes (the balancer), through the docker CLI:
 * found by the cluster's labels, removed by id. Here rather than with the balancer, so that
 * destroy removes them without importing the parts built on top of a local cluster.
 */

/** The role label of a local cluster's balancer container. */
export const BALANCER_ROLE = 'balancer'

/** Runs `docker ARGS` (stdin from `input`); its trimmed output, or an error with its last lines. */
export async function docker(args: string[], input?: Buffer | string): Promise<string> {
  const {execa} = await import('execa')
  const result = await execa('docker', args, {input, reject: false, all: true})
  if (result.exitCode !== 0) throw new BerthError(`docker ${args.slice(0, 2).join(' ')} failed: ${outputTail(result.all, 3, ' ')}`)
  return String(result.stdout).trim()
}

/** The ids of the cluster's containers of one role, in any state (a stopped one blocks the network's removal too). */
export async function containersOfRole(cluster: string, role: string): Promise<string[]> {
  return (await docker(['ps', '-a', '-q', '--no-trunc', '--filter', `label=${LABEL.cluster}=${cluster}`, '--filter', `label=${LABEL.role}=${role}`])).split('\n').filter(Boolean)
}

/** Removes a container by id, running or not. */
export async function removeContainer(id: string): Promise<void> {
  await docker(['rm', '-f', id])
}
