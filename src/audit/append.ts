import {auditEntry, cliOrigin, type AuditChange, type AuditEntry, type AuditLog, type AuditOrigin} from './entry.js'

/**
 * Appends a change to the audit trail: what every change made outside a store's own
 * methods calls (machines added or removed, upgrades, drains, rollbacks). The origin is
 * the CLI on this computer unless told otherwise. Returns the entry written.
 */
export async function appendAudit(log: AuditLog, change: AuditChange, origin: AuditOrigin = cliOrigin()): Promise<AuditEntry> {
  const entry = auditEntry(change, origin)
  await log.appendAudit(entry)
  return entry
}
