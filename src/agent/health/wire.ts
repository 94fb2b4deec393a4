import type Dockerode from 'dockerode'

import type {NodeOps} from '../node/node-ops.js'
import {dockerHealthDeps, type HealthDeps, HealthMonitor} from './monitor.js'

/** The real health monitor of a node: containers as the node ops list them, probes and inspects over dockerd's socket (dockerode loaded on first use). */
export function createHealthMonitor(prefix: string, ops: Pick<NodeOps, 'containers'>, log?: (line: string) => void, expectedSpecHash?: HealthDeps['expectedSpecHash'], draining?: HealthDeps['draining']): HealthMonitor {
  let docker: Promise<Dockerode> | undefined
  const connect = (): Promise<Dockerode> => (docker ??= import('dockerode').then(({default: Docker}) => new Docker()))
  return new HealthMonitor({prefix, containers: () => ops.containers(), ...dockerHealthDeps(connect), log, expectedSpecHash, draining})
}
