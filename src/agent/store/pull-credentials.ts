import type {RegistryCredentials} from '../../images/digest.js'
import {openSecret, type KeyProvider} from '../../secrets/envelope.js'
import type {ServiceSpec} from '../../spec/service.js'
import type {DesiredStore} from './store.js'

/**
 * A service's pull credentials for digest lookups: its `pullSecret` (a sealed Docker auth
 * object, as quartermaster's /run stores it and the agent hands dockerd for the pull),
 * opened on the agent that looks the tag up. Never logged, never in a message.
 */

/** The user name and password of a Docker auth object (`{username, password}`, or `{auth: base64(user:password)}`). */
export function authCredentials(auth: unknown): RegistryCredentials | undefined {
  if (typeof auth !== 'object' || auth === null) return undefined
  const {username, password, auth: encoded} = auth as {username?: unknown; password?: unknown; auth?: unknown}
  if (typeof username === 'string' && typeof password === 'string') return {username, password}
  if (typeof encoded !== 'string') return undefined
  const text = Buffer.from(encoded, 'base64').toString('utf8')
  const colon = text.indexOf(':')
  return colon < 0 ? undefined : {username: text.slice(0, colon), password: text.slice(colon + 1)}
}

/** The credentials of the spec's pull secret; undefined without one, or when it cannot be opened here (the lookup then goes without). */
export async function pullCredentials(spec: Pick<ServiceSpec, 'pullSecret'>, store: Pick<DesiredStore, 'sealedSecret'>, key?: () => Promise<KeyProvider>): Promise<RegistryCredentials | undefined> {
  if (spec.pullSecret === undefined || key === undefined) return undefined
  try {
    const blob = await store.sealedSecret(spec.pullSecret)
    if (blob === undefined) return undefined
    return authCredentials(JSON.parse((await openSecret(spec.pullSecret, blob, await key())).toString('utf8')))
  } catch {
    return undefined
  }
}
