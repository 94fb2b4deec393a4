import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import {CreateKeyCommand, DecryptCommand, EncryptCommand, KMSClient} from '@aws-sdk/client-kms'

import {BerthError, RetryableError} from '../../src/errors.js'
import {openSecret, sealSecret, SecretDecryptError} from '../../src/secrets/envelope.js'
import {KmsKeyProvider, type KmsOptions} from '../../src/secrets/kms.js'
import {FakeKms} from '../support/fake-kms.js'

const credentials = {accessKeyId: 'AKIDBERTHTEST', secretAccessKey: 'not-a-real-secret'}
let kms: FakeKms
let keyId: string
let client: KMSClient

before(async () => {
  kms = await FakeKms.start()
  client = new KMSClient({region: 'us-east-1', endpoint: kms.endpoint, credentials, maxAttempts: 1})
  keyId = (await client.send(new CreateKeyCommand({}))).KeyMetadata?.KeyId as string
})
after(async () => {
  client.destroy()
  await kms.stop()
})

const provider = (overrides: Partial<KmsOptions> = {}): KmsKeyProvider =>
  new KmsKeyProvider({keyId, endpoint: kms.endpoint, credentials, maxAttempts: 1, ...overrides})

describe('the fake KMS, driven by the real SDK', () => {
  it('encrypts and decrypts with the context bound', async () => {
    const context = {purpose: 'test'}
    const sealed = await client.send(new EncryptCommand({KeyId: keyId, Plaintext: Buffer.from('hello'), EncryptionContext: context}))
    const opened = await client.send(new DecryptCommand({CiphertextBlob: sealed.CiphertextBlob, EncryptionContext: context}))
    assert.equal(Buffer.from(opened.Plaintext as Uint8Array).toString(), 'hello')
    assert.equal(opened.KeyId, `arn:aws:kms:us-east-1:111122223333:key/${keyId}`)
    await assert.rejects(client.send(new DecryptCommand({CiphertextBlob: sealed.CiphertextBlob, EncryptionContext: {purpose: 'other'}})), {name: 'InvalidCiphertextException'})
  })

  it('answers protocol errors as KMS does: HTTP 400 with __type and message', async () => {
    const response = await fetch(`${kms.endpoint}/`, {method: 'POST', headers: {'x-amz-target': 'TrentService.Decrypt', 'content-type': 'application/x-amz-json-1.1'}, body: JSON.stringify({CiphertextBlob: Buffer.from('junk').toString('base64')})})
    assert.equal(response.status, 400)
    assert.equal(response.headers.get('content-type'), 'application/x-amz-json-1.1')
    assert.deepEqual(await response.json(), {__type: 'InvalidCiphertextException', message: 'The ciphertext is invalid'})
  })
})

describe('envelope with the KMS key provider', () => {
  const secret = 'correct horse battery staple'

  it('round-trips a secret, sending its name as EncryptionContext and never the value', async () => {
    kms.calls.length = 0
    const blob = await sealSecret('db-password', secret, provider())
    assert.equal(JSON.parse(blob.toString()).provider, 'kms')
    assert.equal((await openSecret('db-password', blob, provider())).toString(), secret)
    assert.deepEqual(kms.calls.map((c) => [c.operation, c.body.EncryptionContext, c.body.KeyId]), [
      ['GenerateDataKey', {'berth:secret': 'db-password'}, keyId],
      ['Decrypt', {'berth:secret': 'db-password'}, keyId],
    ])
    assert.ok(!JSON.stringify(kms.calls).includes(Buffer.from(secret).toString('base64')))
  })

  it('fails, naming the secret, when opened under another name', async () => {
    const blob = await sealSecret('db-password', secret, provider())
    await assert.rejects(openSecret('api-key', blob, provider()), (error: Error) => {
      assert.ok(error instanceof SecretDecryptError)
      assert.equal(error.message, 'secret api-key: KMS refused its data key (InvalidCiphertextException): another key, another secret name, or an altered blob')
      return true
    })
  })

  it('fails when the wrapped data key was altered', async () => {
    const sealed = JSON.parse((await sealSecret('db-password', secret, provider())).toString()) as Record<string, string>
    const key = Buffer.from(sealed.key as string, 'base64')
    key[key.length - 1] = (key[key.length - 1] as number) ^ 1
    sealed.key = key.toString('base64')
    await assert.rejects(openSecret('db-password', Buffer.from(JSON.stringify(sealed)), provider()), SecretDecryptError)
  })

  it('fails when decrypting with another key than the one that wrapped it', async () => {
    const otherKey = (await client.send(new CreateKeyCommand({}))).KeyMetadata?.KeyId as string
    const blob = await sealSecret('db-password', secret, provider())
    await assert.rejects(openSecret('db-password', blob, provider({keyId: otherKey})), {name: 'SecretDecryptError', message: /IncorrectKeyException/})
  })

  it('reports an unknown key id as a configuration error naming the key', async () => {
    const missing = '00000000-0000-4000-8000-000000000000'
    await assert.rejects(sealSecret('db-password', secret, provider({keyId: missing})), (error: Error) => {
      assert.ok(error instanceof BerthError && !error.retryable)
      assert.match(error.message, new RegExp(`^KMS key ${missing}: NotFoundException: .*; check the key id, its state and this node's KMS access$`))
      return true
    })
  })

  it('lets the SDK retry a server error, and reports a lasting one as retryable', async () => {
    kms.failures.push({status: 500, type: 'KMSInternalException'})
    const blob = await sealSecret('db-password', secret, provider({maxAttempts: 2}))
    assert.equal((await openSecret('db-password', blob, provider())).toString(), secret)
    kms.failures.push({status: 500, type: 'KMSInternalException'}, {status: 500, type: 'KMSInternalException'})
    await assert.rejects(sealSecret('db-password', secret, provider({maxAttempts: 2})), (error: Error) => {
      assert.ok(error instanceof RetryableError)
      assert.match(error.message, new RegExp(`^KMS key ${keyId}: KMSInternalException: `))
      return true
    })
    assert.equal(kms.failures.length, 0)
  })
})
