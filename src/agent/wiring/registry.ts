import type {RegistryCredentials} from '../../images/digest.js'
import {pinSpec, registryLookup, type DigestLookup} from '../../images/pin.js'
import {schedulerKeys} from '../../layout/records.js'
import type {ServiceSpec} from '../../spec/service.js'
import {etcdPushNotifier, registryEventsToken, type RegistryEventsDeps} from '../api/registry-events.js'
import {readToken, type AgentOptions} from '../options.js'
import {dockerRegistryConfig, nodeRegistryAccess} from '../node/registry-access.js'

/**
 * The agent's ties to the registry, put together in one place: the digest lookup (as the
 * node's dockerd reaches the registry), the admin API's pinning of every PUT, and the
 * registry's push notifications (with etcd), authenticated by the token derived from the
 * admin token (registryEventsToken).
 */

/** The digest lookup of this node: plain HTTP and credentials as its dockerd and docker CLI use them. */
export function nodeDigestLookup(): DigestLookup {
  return registryLookup(nodeRegistryAccess(dockerRegistryConfig()))
}

/** What the admin API gets: `pin` always, `registryEvents` with the etcd store. */
export async function registryApiDeps(options: AgentOptions, registry: string | undefined, lookup: DigestLookup = nodeDigestLookup()): Promise<{pin: (spec: ServiceSpec, credentials?: RegistryCredentials) => Promise<ServiceSpec>; registryEvents?: RegistryEventsDeps; close(): Promise<void>}> {
  const pin = (spec: ServiceSpec, credentials?: RegistryCredentials): Promise<ServiceSpec> => pinSpec(spec, lookup, registry, credentials)
  if (options.store.kind !== 'etcd') return {pin, close: async () => undefined}
  const token = registryEventsToken(await readToken(options.tokenFile))
  const {endpoints, prefix} = options.store
  const {openEtcd} = await import('../../etcd/open.js')
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
