import {createHash, createHmac} from 'node:crypto'

import {UsageError} from '../errors.js'

/**
 * Host keys as OpenSSH writes them. Pure: no I/O. A key is compared by its raw blob (the
 * base64 part decoded), never by its comment or by the name it was filed under.
 */

/** One public key: its algorithm name and the raw blob the server sends during key exchange. */
export interface PublicKey {
  type: string
  blob: Buffer
}

/** One usable line of a known_hosts file. */
export interface KnownHost {
  /** Host patterns as written: `name`, `[name]:port`, or a hashed `|1|salt|hash`. */
  names: string[]
  key: PublicKey
  /** `@revoked` keys are refused even when they also appear unmarked. */
  revoked: boolean
}

const KEY_TYPE = /^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+)$/

/** The algorithm name at the start of a raw key blob (uint32 length, then the name). */
export function blobType(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined
  const len = blob.readUInt32BE(0)
  if (len === 0 || len > 64 || blob.length < 4 + len) return undefined
  return blob.subarray(4, 4 + len).toString('latin1')
}

/** Finds `TYPE BASE64` among the tokens, checking that the blob names the same type. */
function keyAt(tokens: string[], i: number): PublicKey | undefined {
  const type = tokens[i]
  const b64 = tokens[i + 1]
  if (type === undefined || b64 === undefined || !KEY_TYPE.test(type) || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) return undefined
  const blob = Buffer.from(b64, 'base64')
  return blobType(blob) === type ? {type, blob} : undefined
}

/** Parses an OpenSSH public key line (`ssh-ed25519 AAAA... comment`), or throws a UsageError. */
export function parsePublicKey(line: string): PublicKey {
  const tokens = line.trim().split(/\s+/)
  const key = keyAt(tokens, 0)
  if (!key) {
    const shown = tokens[0] ? `"${tokens[0].slice(0, 40)}..."` : 'an empty line'
    throw new UsageError(`${shown} is not an OpenSSH public key (expected "ssh-ed25519 AAAA... [comment]")`)
  }
  return key
}

/** The fingerprint ssh-keygen -l prints: `SHA256:` and the unpadded base64 of the blob's SHA-256. */
export function fingerprint(key: PublicKey | string): string {
  const {blob} = typeof key === 'string' ? parsePublicKey(key) : key
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}

/** Parses known_hosts text; comments, blank lines and `@cert-authority` lines are skipped. */
export function parseKnownHosts(text: string): KnownHost[] {
  const entries: KnownHost[] = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const tokens = line.split(/\s+/)
    let revoked = false
    if (tokens[0]?.startsWith('@')) {
      // berth does not use host certificates; a CA line must not pass for a host key.
      if (tokens[0] !== '@revoked') continue
      revoked = true
      tokens.shift()
    }
    const key = keyAt(tokens, 1)
    if (!key || tokens[0] === undefined) continue
    entries.push({names: tokens[0].split(','), key, revoked})
  }
  return entries
}

/** The name OpenSSH files a host under: `host` on port 22, else `[host]:port`. */
export function hostPattern(host: string, port = 22): string {
  return port === 22 ? host : `[${host}]:${port}`
}

/** Whether one known_hosts name (plain, or hashed as `|1|salt|hash`) denotes `pattern`. */
function nameMatches(name: string, pattern: string): boolean {
  if (name.startsWith('|1|')) {
    const [, , salt, hash] = name.split('|')
    if (!salt || !hash) return false
    return createHmac('sha1', Buffer.from(salt, 'base64')).update(pattern).digest('base64') === hash
  }
  return name === pattern
}

/** The keys known_hosts accepts for host:port, as public key lines; revoked keys are left out. */
export function hostKeysFor(entries: KnownHost[], host: string, port = 22): string[] {
  const pattern = hostPattern(host, port)
  const matching = entries.filter((e) => e.names.some((n) => !n.startsWith('!') && nameMatches(n, pattern)))
  const revoked = matching.filter((e) => e.revoked).map((e) => e.key.blob)
  return matching
    .filter((e) => !e.revoked && !revoked.some((b) => b.equals(e.key.blob)))
    .map((e) => `${e.key.type} ${e.key.blob.toString('base64')}`)
}

/** One known_hosts line for the given host names (use hostPattern for a port other than 22). */
export function knownHostsLine(names: string[], publicKey: string): string {
  if (names.length === 0 || names.some((n) => n === '' || /[\s,]/.test(n))) {
    throw new UsageError(`known_hosts names must be non-empty and contain no spaces or commas: ${JSON.stringify(names)}`)
  }
  const {type, blob} = parsePublicKey(publicKey)
  return `${names.join(',')} ${type} ${blob.toString('base64')}`
}
