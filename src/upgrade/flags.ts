import * as Flags from '@oclif/core/flags'

import {identityFlag} from '../cli/flags.js'

/** Flags shared by upgrade-machine and rolling-upgrade (cluster and local-cluster forms). */
export const upgradeFlags = {
  image: Flags.string({description: 'Installer image to upgrade to: a tag of cluster.yaml\'s installer repository (0.2.0-1a2b3c4d5e6f) or a reference (default: cluster.yaml\'s installer image).'}),
  timeout: Flags.integer({description: 'Seconds to wait for each machine to pass the health gate.', default: 300, min: 1}),
  'dry-run': Flags.boolean({description: 'Print the plan and change nothing.'}),
}

/** The flags of the plain-cluster commands: SSH identity and the balancer hooks. */
export const upgradeMachineFlags = {
  ...upgradeFlags,
  identity: identityFlag,
  'drain-command': Flags.string({description: 'Shell command that drains $BERTH_MACHINE ($BERTH_MACHINE_IP) from a load balancer before its upgrade.'}),
  'ready-command': Flags.string({description: 'Shell command that puts $BERTH_MACHINE back into the load balancer after its upgrade.'}),
}

/** The rolling upgrade's own flags. */
export const rollingFlags = {
  ...upgradeFlags,
  'max-parallel': Flags.integer({description: 'Workers and data machines upgraded at once, never every machine of a role (main machines: always one).', default: 1, min: 1}),
  resume: Flags.boolean({description: 'Continue the unfinished rolling upgrade where it stopped.', exclusive: ['abandon']}),
  abandon: Flags.boolean({description: 'Drop the unfinished rolling upgrade (machines keep whatever they have).', exclusive: ['resume', 'dry-run']}),
}

/** What a rolling-upgrade invocation asks for, from its flags. */
export function rollingMode(flags: {resume: boolean; abandon: boolean}): 'start' | 'resume' | 'abandon' {
  if (flags.abandon) return 'abandon'
  return flags.resume ? 'resume' : 'start'
}
