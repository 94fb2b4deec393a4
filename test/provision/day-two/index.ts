import {auditPart} from './audit.js'
import type {DayTwoPart} from './context.js'

/**
 * The day-two checks run on the provision suite's cluster, after it is provisioned and
 * before the suite's reboots and power cuts. A part adds one line here.
 */
export const dayTwoParts: DayTwoPart[] = [
  auditPart,
]
