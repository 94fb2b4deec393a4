import {isIP} from 'node:net'

import type {Cluster, Machine} from '../config/types.js'
import {UsageError} from '../errors.js'
import {etcdUrls} from '../firstboot/index.js'

/** A machine of cluster.yaml named by its name or its IP, or a usage error listing the known ones. */
export function machineNamed(cluster: Cluster, nameOrIp: string, what: string): Machine {
  const machine = cluster.machines.find((m) => m.name === nameOrIp || m.ip === nameOrIp)
  if (!machine) {
    throw new UsageError([{file: cluster.file, path: what, message: `no machine is named or has the address ${nameOrIp}`, fix: `use one of: ${cluster.machines.map((m) => m.name).join(', ')}`}])
  }
  return machine
}

/** The etcd client URLs of a cluster's main machines, `except` one (the machine leaving). */
export function etcdEndpoints(cluster: Cluster, except?: string): string[] {
  return cluster.machines.filter((m) => m.role === 'main' && m.name !== except).map((m) => etcdUrls(cluster, m.ip).client)
}

/** Throws a usage error unless `value` is an IPv4 address. */
export function isIPv4Problem(value: string, what: string): void {
  if (isIP(value) !== 4) throw new UsageError([{path: what, message: `${JSON.stringify(value)} is not an IPv4 address`, fix: 'write four numbers 0-255 separated by dots'}])
}
