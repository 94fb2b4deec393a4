/**
 * How a rolling upgrade's progress record changes, as pure functions over
 * RollingUpgradeRecord (kept in etcd by src/upgrade/rolling.ts so `--resume` can continue).
 */
import type {RollingUpgradeRecord} from '../layout/records.js'

/** A fresh record for a plan about to start. */
export function startRecord(id: string, image: string, order: string[], now = new Date()): RollingUpgradeRecord {
  return {id, image, order, done: [], startedAt: now.toISOString()}
}

/** True while the record's upgrade has neither finished nor been abandoned. */
export function isUnfinished(record: RollingUpgradeRecord | undefined): record is RollingUpgradeRecord {
  return record !== undefined && record.finishedAt === undefined
}

/** The machines of the plan not yet done, in the plan's order. */
export function remaining(record: RollingUpgradeRecord): string[] {
  return record.order.filter((m) => !record.done.includes(m))
}

/** The record after `machine` passed its health gate. */
export function markDone(record: RollingUpgradeRecord, machine: string): RollingUpgradeRecord {
  return {...record, done: record.done.includes(machine) ? record.done : [...record.done, machine]}
}

/** The record after the first failure: which machine, at which step, and why. */
export function markFailed(record: RollingUpgradeRecord, failed: NonNullable<RollingUpgradeRecord['failed']>): RollingUpgradeRecord {
  return {...record, failed}
}

/** The record as a resumed run starts it: the last failure cleared, done machines kept. */
export function resumeRecord(record: RollingUpgradeRecord): RollingUpgradeRecord {
  const {failed: _failed, ...rest} = record
  return rest
}

/** The record once every machine is done. */
export function finishRecord(record: RollingUpgradeRecord, now = new Date()): RollingUpgradeRecord {
  return {...record, finishedAt: now.toISOString()}
}

/** One line about an unfinished upgrade, for the refusal of a plain run. */
export function describeRecord(record: RollingUpgradeRecord): string {
  // The full reason (a remote command's output) stays in the record; one line is enough here.
  const reason = record.failed?.reason.split('\n')[0] ?? ''
  const where = record.failed ? `; stopped at ${record.failed.machine} (${record.failed.step}): ${reason}${reason === record.failed.reason ? '' : ' …'}` : ''
  return `rolling upgrade ${record.id} to ${record.image} started ${record.startedAt} has done ${record.done.length} of ${record.order.length} machines${where}`
}
