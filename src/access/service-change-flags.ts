import * as Flags from '@oclif/core/flags'

import {targetFlags} from '../provision/target.js'

/**
 * The flags `service update`, `rollback` and `history` share: the cluster (cluster.yaml or
 * a local cluster) and which of its etcd members to ask, as `service ps` takes them.
 */
export const serviceEtcdFlags = {
  ...targetFlags,
  etcd: Flags.string({description: 'etcd client URL to ask (repeatable; default: every main machine\'s).', multiple: true}),
}

/** The flags of a change that rolls: follow it or not, and for how long. */
export const followFlags = {
  detach: Flags.boolean({description: 'Store the change and return at once; the rollout goes on (berth service history NAME shows it).'}),
  timeout: Flags.integer({description: 'Seconds to follow the rollout before giving up following (it goes on).', default: 900, min: 1}),
}

/** The etcd endpoints the flags name: --etcd, or every main machine's client URL. */
export async function serviceEtcd(flags: {etcd?: string[]; config: string; 'state-dir'?: string; 'local-cluster'?: string; identity?: string}): Promise<string[]> {
  if (flags.etcd) return flags.etcd
  const [{resolveTarget}, {etcdEndpoints}] = await Promise.all([import('../provision/target.js'), import('../cluster/target.js')])
  return etcdEndpoints((await resolveTarget(flags)).cluster)
}
