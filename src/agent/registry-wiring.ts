import path from 'node:path'

import {pinSpec, registryLookup, type DigestLookup} from '../images/pin.js'
import {schedulerKeys} from '../layout/records.js'
import type {ServiceSpec} from '../spec/service.js'
import {etcdPushNotifier, type RegistryEventsDeps} from './api/registry-events.js'
import {readToken, type AgentOptions} from './options.js'
import {dockerRegistryConfig, nodeRegistryAccess} from './registry-access.js'

/**
 * The agent's ties to the registry, put together in one place: the digest lookup (as the
 * node's dockerd reaches the registry), the admin API's pinning of every PUT, and the
 * registry's push notifications, enabled by the token file `registry-events-token` next to
 * the admin token (a node secret, 0600 on the secrets tmpfs).
 */

/** The name of the registry events token's file among the node secrets. */
export const REGISTRY_EVENTS_TOKEN = 'registry-events-token'

/** The digest lookup of this node: plain HTTP and credentials as its dockerd and docker CLI use them. */
export function nodeDigestLookup(): DigestLookup {
  return registryLookup(nodeRegistryAccess(dockerRegistryConfig()))
}

/** What the admin API gets: `pin` always, `registryEvents` when the token file is there and the store is etcd. */
export async function registryApiDeps(options: AgentOptions, registry: string | undefined, lookup: DigestLookup = nodeDigestLookup()): Promise<{pin: (spec: ServiceSpec) => Promise<ServiceSpec>; registryEvents?: RegistryEventsDeps; close(): Promise<void>}> {
  const pin = (spec: ServiceSpec): Promise<ServiceSpec> => pinSpec(spec, lookup, registry)
  const token = await readToken(path.join(path.dirname(options.tokenFile), REGISTRY_EVENTS_TOKEN)).catch(() => undefined)
  if (token === undefined || options.store.kind !== 'etcd') return {pin, close: async () => undefined}
  const {endpoints, prefix} = options.store
  const {openEtcd} = await import('../etcd/client.js')
  let client: Awaited<ReturnType<typeof openEtcd>> | undefined
  const put = async (key: string, value: string): Promise<void> => {
    client ??= await openEtcd(endpoints)
    await client.put(key).value(value).exec()
  }
  return {
    pin,
    registryEvents: {token, notify: etcdPushNotifier(put, schedulerKeys(prefix).registryPush, options.machine)},
    close: async () => client?.close(),
  }
}
