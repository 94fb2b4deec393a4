import {createCipheriv, createDecipheriv, randomBytes} from 'node:crypto'

import {BerthError} from '../errors.js'

/**
 * Envelope encryption of service secrets: each secret gets a fresh 256-bit data key, the
 * value is sealed with AES-256-GCM under it, and the data key is stored wrapped by a
 * KeyProvider (a local master key or AWS KMS). The secret's name is bound twice, as GCM
 * associated data and as the provider's encryption context, so a blob copied onto another
 * name fails to open instead of leaking one secret into another service.
 */

/** Non-secret pairs bound to a wrapped data key; unwrapping with other pairs fails. */
export type KeyContext = Readonly<Record<string, string>>

/** A data key in the clear (to use once, then wipe) and wrapped (to store). */
export interface DataKey {
  plaintext: Uint8Array
  ciphertext: Uint8Array
}

/** Wraps and unwraps data keys; the only part of the envelope that knows the master key. */
export interface KeyProvider {
  /** Short name stored in each blob (`local`, `kms`), so a blob names what can open it. */
  readonly kind: string
  generateDataKey(context: KeyContext): Promise<DataKey>
  decryptDataKey(ciphertext: Uint8Array, context: KeyContext): Promise<Uint8Array>
}

/** A provider could not unwrap a data key: wrong master key, another key ring, or another context. */
export class KeyUnwrapError extends BerthError {}

/** A secret that cannot be opened; the message names the secret and never its value. */
export class SecretDecryptError extends BerthError {}

/** The stored form of one secret, version 1. */
interface SealedSecret {
  berth: 'secret'
  v: 1
  provider: string
  key: string
  iv: string
  tag: string
  data: string
}

/** The encryption context a secret's data key is bound to. */
export function secretContext(name: string): KeyContext {
  return {'berth:secret': name}
}

function associatedData(name: string): Buffer {
  return Buffer.from(`berth secret v1\0${name}`, 'utf8')
}

/** Encrypts `value` for the secret `name`; returns the self-describing blob to store. */
export async function sealSecret(name: string, value: string | Uint8Array, provider: KeyProvider): Promise<Buffer> {
  const dataKey = await provider.generateDataKey(secretContext(name))
  try {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', dataKey.plaintext, iv).setAAD(associatedData(name))
    const data = Buffer.concat([cipher.update(value), cipher.final()])
    const sealed: SealedSecret = {
      berth: 'secret', v: 1, provider: provider.kind,
      key: Buffer.from(dataKey.ciphertext).toString('base64'), iv: iv.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64'),
    }
    return Buffer.from(JSON.stringify(sealed), 'utf8')
  } finally {
    dataKey.plaintext.fill(0)
  }
}

/** Decrypts the blob stored for secret `name`; throws SecretDecryptError when it was not sealed for that name with this provider's key. */
export async function openSecret(name: string, blob: Uint8Array, provider: KeyProvider): Promise<Buffer> {
  const sealed = parseSealed(name, blob)
  if (sealed.provider !== provider.kind) {
    throw new SecretDecryptError(`secret ${name}: it was encrypted with the ${sealed.provider} key provider, but this node uses ${provider.kind}`)
  }
  let key: Uint8Array
  try {
    key = await provider.decryptDataKey(Buffer.from(sealed.key, 'base64'), secretContext(name))
  } catch (error) {
    if (!(error instanceof KeyUnwrapError)) throw error
    throw new SecretDecryptError(`secret ${name}: ${error.message}`, {cause: error})
  }
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64')).setAAD(associatedData(name))
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'))
    return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()])
  } catch (error) {
    throw new SecretDecryptError(`secret ${name}: the stored value was altered or belongs to another secret`, {cause: error})
  } finally {
    key.fill(0)
  }
}

function parseSealed(name: string, blob: Uint8Array): SealedSecret {
  let sealed: Partial<SealedSecret> | undefined
  try {
    sealed = JSON.parse(Buffer.from(blob).toString('utf8')) as Partial<SealedSecret>
  } catch {
    // Not JSON: reported below together with the wrong-shape case.
  }
  const fields = ['provider', 'key', 'iv', 'tag', 'data'] as const
  if (sealed?.berth !== 'secret' || sealed.v !== 1 || fields.some((f) => typeof sealed?.[f] !== 'string')) {
    throw new SecretDecryptError(`secret ${name}: the stored value is not a version 1 berth secret; set the secret again`)
  }
  return sealed as SealedSecret
}
