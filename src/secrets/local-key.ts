import {createCipheriv, createDecipheriv, createHash, randomBytes} from 'node:crypto'
import {link, open, rm} from 'node:fs/promises'

import {BerthError} from '../errors.js'
import {writeFileAtomic} from '../fsx.js'
import {KeyUnwrapError, type DataKey, type KeyContext, type KeyProvider} from './envelope.js'

/**
 * The key provider that needs no cloud: a 32-byte master key in a 0600 file on each node
 * (uploaded once with `berth cluster upload-secrets`). A wrapped data key is
 * `version | key id | iv | tag | ciphertext`; the key id lets a wrong master key be told
 * apart from a tampered blob.
 */

const masterKeyBytes = 32
const version = 1
const keyIdBytes = 8
const ivBytes = 12
const tagBytes = 16

/** A master key file that is missing, the wrong size, or readable by others. */
export class MasterKeyError extends BerthError {}

/** Writes a new random master key to `file` with mode 0600; refuses to replace an existing one. */
export async function createMasterKey(file: string): Promise<void> {
  const tmp = `${file}.new`
  await writeFileAtomic(tmp, randomBytes(masterKeyBytes), 0o600)
  try {
    // link() fails if `file` exists: overwriting a master key would orphan every secret.
    await link(tmp, file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    throw new MasterKeyError(`${file}: a master key is already there; remove it first if you really mean to replace it`)
  } finally {
    await rm(tmp, {force: true})
  }
}

/** Wraps data keys with a master key read from a file. */
export class LocalKeyProvider implements KeyProvider {
  readonly kind = 'local'
  readonly #key: Buffer
  readonly #keyId: Buffer

  private constructor(key: Buffer) {
    this.#key = key
    this.#keyId = createHash('sha256').update('berth master key id\0').update(key).digest().subarray(0, keyIdBytes)
  }

  /** Reads the master key from `file`, refusing a file that group or others may read. */
  static async fromFile(file: string): Promise<LocalKeyProvider> {
    const handle = await open(file, 'r').catch((error: NodeJS.ErrnoException) => {
      throw new MasterKeyError(`${file}: cannot read the master key (${error.code ?? error.message}); create one with createMasterKey or upload it`)
    })
    try {
      const mode = (await handle.stat()).mode & 0o777
      if ((mode & 0o077) !== 0) {
        throw new MasterKeyError(`${file}: mode ${mode.toString(8).padStart(4, '0')} lets others read the master key; run chmod 600 ${file}`)
      }
      const key = await handle.readFile()
      if (key.length !== masterKeyBytes) throw new MasterKeyError(`${file}: a master key is ${masterKeyBytes} bytes, this file has ${key.length}`)
      return new LocalKeyProvider(key)
    } finally {
      await handle.close()
    }
  }

  /** Returns a fresh data key and its copy wrapped under the master key, bound to `context`. */
  async generateDataKey(context: KeyContext): Promise<DataKey> {
    const plaintext = randomBytes(masterKeyBytes)
    const iv = randomBytes(ivBytes)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv).setAAD(contextBytes(context))
    const wrapped = Buffer.concat([cipher.update(plaintext), cipher.final()])
    return {plaintext, ciphertext: Buffer.concat([Buffer.of(version), this.#keyId, iv, cipher.getAuthTag(), wrapped])}
  }

  /** Unwraps a data key made by {@link generateDataKey} with the same master key and context. */
  async decryptDataKey(ciphertext: Uint8Array, context: KeyContext): Promise<Uint8Array> {
    const blob = Buffer.from(ciphertext)
    const keyId = blob.subarray(1, 1 + keyIdBytes)
    if (blob[0] !== version || blob.length !== 1 + keyIdBytes + ivBytes + tagBytes + masterKeyBytes) {
      throw new KeyUnwrapError('its wrapped data key is malformed')
    }
    if (!keyId.equals(this.#keyId)) {
      throw new KeyUnwrapError(`it was encrypted with another master key (id ${keyId.toString('hex')}; this node has ${this.#keyId.toString('hex')})`)
    }
    const ivAt = 1 + keyIdBytes
    const decipher = createDecipheriv('aes-256-gcm', this.#key, blob.subarray(ivAt, ivAt + ivBytes)).setAAD(contextBytes(context))
    decipher.setAuthTag(blob.subarray(ivAt + ivBytes, ivAt + ivBytes + tagBytes))
    try {
      return Buffer.concat([decipher.update(blob.subarray(ivAt + ivBytes + tagBytes)), decipher.final()])
    } catch {
      throw new KeyUnwrapError('its data key was altered or is bound to another secret')
    }
  }
}

// Sorted, so the context binds the same bytes whatever order its keys were written in.
function contextBytes(context: KeyContext): Buffer {
  return Buffer.from(JSON.stringify(Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))), 'utf8')
}
