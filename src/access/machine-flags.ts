import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {targetFlags} from '../provision/target.js'

/** What `machine drain` and `machine ready` take: the machine, the cluster, and etcd to ask. */
export const machineArgs = {machine: Args.string({required: true, description: 'Machine name or IP.'})}
export const machineFlags = {
  ...targetFlags,
  etcd: Flags.string({description: 'etcd client URL to ask (repeatable; default: every main machine\'s).', multiple: true}),
}
