import assert from 'node:assert/strict'
import {chmod, mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {openSecret, sealSecret, SecretDecryptError, type KeyProvider} from '../../src/secrets/envelope.js'
import {createMasterKey, LocalKeyProvider, MasterKeyError} from '../../src/secrets/local-key.js'

let dir: string
before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-local-key-'))
})
after(async () => {
  await rm(dir, {recursive: true, force: true})
})

describe('createMasterKey', () => {
  it('writes 32 random bytes with mode 0600', async () => {
    const file = path.join(dir, 'fresh.key')
    await createMasterKey(file)
    assert.equal((await readFile(file)).length, 32)
    assert.equal((await stat(file)).mode & 0o777, 0o600)
  })

  it('refuses to replace an existing key and leaves it as it was', async () => {
    const file = path.join(dir, 'kept.key')
    await createMasterKey(file)
    const before = await readFile(file)
    await assert.rejects(createMasterKey(file), {name: 'MasterKeyError', message: `${file}: a master key is already there; remove it first if you really mean to replace it`})
    assert.deepEqual(await readFile(file), before)
  })
})

describe('LocalKeyProvider.fromFile', () => {
  it('refuses a key file others may read', async () => {
    const file = path.join(dir, 'open.key')
    await writeFile(file, Buffer.alloc(32, 1))
    await chmod(file, 0o644)
    await assert.rejects(LocalKeyProvider.fromFile(file), {message: `${file}: mode 0644 lets others read the master key; run chmod 600 ${file}`})
  })

  it('refuses a file of the wrong size', async () => {
    const file = path.join(dir, 'short.key')
    await writeFile(file, Buffer.alloc(31, 1), {mode: 0o600})
    await assert.rejects(LocalKeyProvider.fromFile(file), {message: `${file}: a master key is 32 bytes, this file has 31`})
  })

  it('reports a missing file with what to do', async () => {
    const file = path.join(dir, 'missing.key')
    await assert.rejects(LocalKeyProvider.fromFile(file), (error: Error) => {
      assert.ok(error instanceof MasterKeyError)
      assert.equal(error.message, `${file}: cannot read the master key (ENOENT); create one with createMasterKey or upload it`)
      return true
    })
  })
})

describe('envelope with the local key provider', () => {
  let provider: LocalKeyProvider
  let other: LocalKeyProvider
  before(async () => {
    await createMasterKey(path.join(dir, 'a.key'))
    await createMasterKey(path.join(dir, 'b.key'))
    provider = await LocalKeyProvider.fromFile(path.join(dir, 'a.key'))
    other = await LocalKeyProvider.fromFile(path.join(dir, 'b.key'))
  })

  const secret = 'hunter2-$HOME-%h'
  const rejectsNaming = async (promise: Promise<unknown>, name: string, reason: RegExp): Promise<void> => {
    await assert.rejects(promise, (error: Error) => {
      assert.ok(error instanceof SecretDecryptError, `${error.name}: ${error.message}`)
      assert.ok(error.message.startsWith(`secret ${name}: `), error.message)
      assert.match(error.message, reason)
      assert.ok(!error.message.includes(secret), 'the message must not contain the value')
      return true
    })
  }

  it('round-trips text, binary and empty values', async () => {
    for (const value of [secret, Buffer.from([0, 255, 10, 13]), '']) {
      const blob = await sealSecret('db-password', value, provider)
      assert.deepEqual(await openSecret('db-password', blob, provider), Buffer.from(value))
    }
  })

  it('stores a versioned, self-describing blob without the value, with a fresh data key each time', async () => {
    const first = JSON.parse((await sealSecret('db-password', secret, provider)).toString()) as Record<string, unknown>
    const second = JSON.parse((await sealSecret('db-password', secret, provider)).toString()) as Record<string, unknown>
    assert.deepEqual(Object.keys(first), ['berth', 'v', 'provider', 'key', 'iv', 'tag', 'data'])
    assert.equal(first.berth, 'secret')
    assert.equal(first.v, 1)
    assert.equal(first.provider, 'local')
    assert.notEqual(first.key, second.key)
    assert.notEqual(first.data, second.data)
    assert.ok(!JSON.stringify(first).includes(Buffer.from(secret).toString('base64')))
  })

  it('fails, naming the secret, when any part of the blob is altered', async () => {
    for (const field of ['key', 'iv', 'tag', 'data']) {
      const sealed = JSON.parse((await sealSecret('db-password', secret, provider)).toString()) as Record<string, string>
      const bytes = Buffer.from(sealed[field] as string, 'base64')
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1
      sealed[field] = bytes.toString('base64')
      await rejectsNaming(openSecret('db-password', Buffer.from(JSON.stringify(sealed)), provider), 'db-password', /altered/)
    }
  })

  it('fails when a blob is opened under another name (ciphertexts swapped between secrets)', async () => {
    const blob = await sealSecret('db-password', secret, provider)
    await rejectsNaming(openSecret('api-key', blob, provider), 'api-key', /another secret/)
  })

  it('binds the name as GCM associated data too, even under a provider that ignores the context', async () => {
    const key = Buffer.alloc(32, 7)
    const careless: KeyProvider = {kind: 'careless', generateDataKey: async () => ({plaintext: Buffer.from(key), ciphertext: Buffer.from('k')}), decryptDataKey: async () => Buffer.from(key)}
    const blob = await sealSecret('db-password', secret, careless)
    assert.equal((await openSecret('db-password', blob, careless)).toString(), secret)
    await rejectsNaming(openSecret('api-key', blob, careless), 'api-key', /^secret api-key: the stored value was altered or belongs to another secret$/)
  })

  it('names a wrong master key as such', async () => {
    const blob = await sealSecret('db-password', secret, provider)
    await rejectsNaming(openSecret('db-password', blob, other), 'db-password', /^secret db-password: it was encrypted with another master key \(id [0-9a-f]{16}; this node has [0-9a-f]{16}\)$/)
  })

  it('refuses a blob of another provider or format', async () => {
    const blob = await sealSecret('db-password', secret, provider)
    const kmsBlob = Buffer.from(blob.toString().replace('"provider":"local"', '"provider":"kms"'))
    await rejectsNaming(openSecret('db-password', kmsBlob, provider), 'db-password', /^secret db-password: it was encrypted with the kms key provider, but this node uses local$/)
    await rejectsNaming(openSecret('db-password', Buffer.from('hunter2'), provider), 'db-password', /not a version 1 berth secret/)
  })
})
