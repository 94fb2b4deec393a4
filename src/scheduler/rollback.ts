import type {Leadership} from './leadership.js'
import {auditEntry} from '../audit/entry.js'
import {specHash} from '../hash.js'
import {auditDir, ETCD_PREFIX, rolloutKeys} from '../layout/records.js'
import type {Rollback} from './rollouts.js'
import {revisionOps} from './revisions.js'

/**
 * The leader's automatic rollback: the service's key gets the previous revision's spec and
 * that spec is appended as a new revision, with the rollout record saying `rolling-back` and a
 * `service.rollback` audit entry (from `agent <machine>`), in one transaction fenced by the leadership and
 * by the service key's revision, so a change someone made meanwhile is never overwritten
 * (the newer spec wins; its own rollout supersedes this one). The next pass rolls the
 * replicas back, batch by batch.
 */
export async function commitRollbacks(leadership: Leadership, rollbacks: readonly Rollback[], machine: string, prefix = ETCD_PREFIX): Promise<void> {
  const {client} = leadership
  for (const r of rollbacks) {
    const keys = rolloutKeys(r.service, prefix)
    const key = keys.service
    const kv = (await client.get(key).exec()).kvs[0]
    if (!kv) continue
    // The entry goes in this transaction, fenced with the change; the next append enforces the trail's retention.
    const entry = auditEntry({action: 'service.rollback', target: r.service, before: hashOfStored(kv.value.toString('utf8')), after: specHash(r.spec), detail: {reason: r.record.message ?? ''}}, {via: 'agent', claimed: {host: machine}})
    const ops = [
      client.put(auditDir(prefix) + entry.id).value(JSON.stringify(entry)),
      client.put(key).value(JSON.stringify(r.spec)),
      ...revisionOps(client, r.revision),
      client.put(keys.rollout).value(JSON.stringify(r.record)),
    ]
    await leadership.commitIf(ops, {key, modRevision: String(kv.mod_revision)})
  }
}

function hashOfStored(text: string): string {
  try {
    return specHash(JSON.parse(text))
  } catch {
    return specHash(text)
  }
}
