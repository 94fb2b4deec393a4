import type {ApiClient} from './api-client.js'
import {ETCD_PREFIX} from '../layout/records.js'
import {etcdEndpoints} from '../cluster/target.js'
import type {Cluster} from '../config/types.js'
import {UsageError} from '../errors.js'
import {matchesQuery, type AuditEntry, type AuditQuery} from '../audit/entry.js'

/** Where `berth audit` reads the trail: the cluster's etcd, or an agent's admin API. */
export type AuditSource = {cluster: Cluster} | {api: ApiClient}

/**
 * Reads the trail from `since` on and then keeps one service's entries, so that a name no
 * entry has can be refused naming the services the trail does have.
 */
export async function readAudit(source: AuditSource, query: AuditQuery): Promise<AuditEntry[]> {
  const window = {since: query.since}
  const entries = 'api' in source ? await source.api.audit(window) : await fromEtcd(source.cluster, window)
  if (query.service === undefined) return entries
  const named = entries.filter((e) => matchesQuery(e, query))
  if (named.length > 0) return named
  const known = [...new Set(entries.filter((e) => e.action.startsWith('service.')).map((e) => e.target))].sort()
  throw new UsageError([{path: '--service', message: `no change of service ${query.service} is in the audit trail${query.since ? ` since ${query.since}` : ''}`, fix: known.length > 0 ? `services in it: ${known.join(', ')}` : 'no service changed in that time; try a longer --since'}])
}

async function fromEtcd(cluster: Cluster, query: AuditQuery): Promise<AuditEntry[]> {
  const {EtcdStore} = await import('../agent/store/store-etcd.js')
  const store = new EtcdStore({endpoints: etcdEndpoints(cluster), prefix: ETCD_PREFIX})
  try {
    return await store.auditEntries(query)
  } finally {
    await store.close()
  }
}
