import type {KMSClient} from '@aws-sdk/client-kms'

import {BerthError, RetryableError} from '../errors.js'
import {KeyUnwrapError, type DataKey, type KeyContext, type KeyProvider} from './envelope.js'

/** How to reach the KMS key that wraps data keys. */
export interface KmsOptions {
  /** Key id, ARN or alias (`alias/berth`). */
  keyId: string
  region?: string
  /** Another endpoint than AWS's (a VPC endpoint, or a test server). */
  endpoint?: string
  credentials?: {accessKeyId: string; secretAccessKey: string; sessionToken?: string}
  /** Attempts per call, the SDK's retries included (its default is 3). */
  maxAttempts?: number
}

// KMS answers these when the blob, the context or the key does not fit: not worth a retry.
const unwrapFailures = new Set(['InvalidCiphertextException', 'IncorrectKeyException'])
const configFailures = new Set(['NotFoundException', 'DisabledException', 'KMSInvalidStateException', 'AccessDeniedException', 'UnrecognizedClientException'])

/** Wraps data keys with an AWS KMS key; the SDK is loaded on first use, as it is large. */
export class KmsKeyProvider implements KeyProvider {
  readonly kind = 'kms'
  #client: Promise<{client: KMSClient; sdk: typeof import('@aws-sdk/client-kms')}> | undefined

  constructor(private readonly options: KmsOptions) {}

  /** Asks KMS for a fresh AES-256 data key bound to `context`. */
  async generateDataKey(context: KeyContext): Promise<DataKey> {
    const {client, sdk} = await this.#connect()
    const out = await this.#call(() => client.send(new sdk.GenerateDataKeyCommand({KeyId: this.options.keyId, KeySpec: 'AES_256', EncryptionContext: {...context}})))
    if (!out.Plaintext || !out.CiphertextBlob) throw new BerthError(`KMS key ${this.options.keyId}: GenerateDataKey returned no key`)
    return {plaintext: out.Plaintext, ciphertext: out.CiphertextBlob}
  }

  /** Asks KMS to unwrap a data key; the context must equal the one it was generated with. */
  async decryptDataKey(ciphertext: Uint8Array, context: KeyContext): Promise<Uint8Array> {
    const {client, sdk} = await this.#connect()
    const out = await this.#call(() => client.send(new sdk.DecryptCommand({KeyId: this.options.keyId, CiphertextBlob: ciphertext, EncryptionContext: {...context}})))
    if (!out.Plaintext) throw new BerthError(`KMS key ${this.options.keyId}: Decrypt returned no key`)
    return out.Plaintext
  }

  #connect(): Promise<{client: KMSClient; sdk: typeof import('@aws-sdk/client-kms')}> {
    this.#client ??= import('@aws-sdk/client-kms').then((sdk) => {
      const {region, endpoint, credentials, maxAttempts} = this.options
      return {sdk, client: new sdk.KMSClient({region: region ?? 'us-east-1', endpoint, credentials, maxAttempts})}
    })
    return this.#client
  }

  /** Translates the SDK's errors into berth's at the boundary, naming the key but no data. */
  async #call<T>(send: () => Promise<T>): Promise<T> {
    try {
      return await send()
    } catch (error) {
      const name = (error as Error).name
      const detail = `KMS key ${this.options.keyId}: ${name}: ${(error as Error).message}`
      if (unwrapFailures.has(name)) throw new KeyUnwrapError(`KMS refused its data key (${name}): another key, another secret name, or an altered blob`, {cause: error})
      if (configFailures.has(name)) throw new BerthError(`${detail}; check the key id, its state and this node's KMS access`, {cause: error})
      throw new RetryableError(detail, {cause: error})
    }
  }
}
