import {auditPart} from './audit.js'
import {autoUpgrade} from './auto-upgrade.js'
import {clusterAccess} from './cluster-access.js'
import type {DayTwoPart} from './context.js'
import {deploy} from './deploy.js'
import {drainPart} from './drain.js'
import {metricsPart} from './metrics.js'
import {health} from './health.js'
import {opsPart} from './ops.js'
import {rolloutPart} from './rollout.js'
import {quartermasterPart} from './quartermaster.js'
import {scheduling} from './scheduling.js'

/**
 * The day-two checks run on the provision suite's cluster, after it is provisioned and
 * before the suite's reboots and power cuts. A part adds one line here.
 */
export const dayTwoParts: DayTwoPart[] = [
  auditPart,
  clusterAccess,
  deploy,
  metricsPart,
  health,
  opsPart,
  rolloutPart,
  drainPart,
  quartermasterPart,
  autoUpgrade,
  // Last: it stops a node.
  scheduling,
]
