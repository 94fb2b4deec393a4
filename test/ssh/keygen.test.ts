import assert from 'node:assert/strict'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {describe, it} from 'node:test'

import {execa} from 'execa'
import ssh2 from 'ssh2'

import {generateEd25519, type KeyPair} from '../../src/ssh/keygen.js'

/** The raw 32-byte public key inside `ssh-ed25519 AAAA…`. */
function rawPublic(pair: KeyPair): Buffer {
  return Buffer.from(pair.public.split(' ')[1]!, 'base64').subarray(-32)
}

/** What OpenSSH itself derives from the private key file: `ssh-keygen -y`. */
async function derivedByOpenSsh(pair: KeyPair): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-keygen-'))
  try {
    await writeFile(path.join(dir, 'key'), pair.private, {mode: 0o600})
    return (await execa('ssh-keygen', ['-y', '-f', path.join(dir, 'key')])).stdout.split(' ').slice(0, 2).join(' ')
  } finally {
    await rm(dir, {recursive: true, force: true})
  }
}

describe('ed25519 key generation', () => {
  it('writes a pair that OpenSSH reads and ssh2 signs and verifies with', async () => {
    const pair = generateEd25519('root@main-1')
    assert.match(pair.public, /^ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI[A-Za-z0-9+/]{43} root@main-1$/)
    assert.equal(await derivedByOpenSsh(pair), pair.public.split(' ').slice(0, 2).join(' '))

    const privateKey = ssh2.utils.parseKey(pair.private)
    const publicKey = ssh2.utils.parseKey(pair.public)
    assert.ok(!(privateKey instanceof Error), String(privateKey))
    assert.ok(!(publicKey instanceof Error), String(publicKey))
    const data = Buffer.from('berth')
    assert.ok(publicKey.verify(data, privateKey.sign(data)))
  })

  // ssh2's own generator strips a leading zero byte from the public key, one key in 256
  // (mscdex/ssh2#1390); the first test-suite flake came from it. Find such keys on purpose.
  it('keeps a public key that starts with a zero byte whole', async () => {
    const zeroLed: KeyPair[] = []
    for (let i = 0; i < 20_000 && zeroLed.length < 3; i++) {
      const pair = generateEd25519()
      if (rawPublic(pair)[0] === 0) zeroLed.push(pair)
    }
    assert.equal(zeroLed.length, 3, 'three keys with a leading zero byte in 20,000 tries (expected about 78)')
    for (const pair of zeroLed) {
      assert.equal(Buffer.from(pair.public.split(' ')[1]!, 'base64').length, 51, 'the blob holds all 32 bytes')
      assert.ok(!(ssh2.utils.parseKey(pair.private) instanceof Error))
      assert.equal(await derivedByOpenSsh(pair), pair.public)
    }
  })

  it('writes a comment of any length with the private section padded to 8 bytes', () => {
    for (const comment of ['', 'a', 'ab', 'abcdefg', 'berth-provisioner']) {
      const key = ssh2.utils.parseKey(generateEd25519(comment).private)
      assert.ok(!(key instanceof Error), `comment ${JSON.stringify(comment)}: ${String(key)}`)
      assert.equal(key.comment, comment)
    }
  })

  // Exporting a freshly generated KeyObject deadlocks Node 20 now and then: a garbage
  // collection during the export finalizes the key-generation job, whose destructor waits
  // for the lock the export holds. A 4 MB young generation makes such collections frequent:
  // 40,000 keys hung 6 runs in 6 that way, and new-cloud-config hung about one run in 15.
  it('makes 40,000 keys under frequent garbage collection without hanging', async () => {
    const keygen = new URL('../../src/ssh/keygen.js', import.meta.url).href
    const script = `const {generateEd25519} = await import(${JSON.stringify(keygen)}); for (let i = 0; i < 40000; i++) generateEd25519(); console.log('done')`
    const result = await execa(process.execPath, ['--max-semi-space-size=4', '--input-type=module', '-e', script], {timeout: 30_000, reject: false})
    assert.equal(result.timedOut, false, 'key generation hung')
    assert.equal(result.stdout, 'done', result.stderr)
  })
})
