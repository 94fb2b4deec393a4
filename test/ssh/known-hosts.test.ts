import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {describe, test} from 'node:test'

import ssh2 from 'ssh2'

import {UsageError} from '../../src/errors.js'
import {fingerprint, hostKeysFor, hostPattern, knownHostsLine, parseKnownHosts, parsePublicKey} from '../../src/ssh/index.js'
import {generateEd25519} from '../../src/ssh/keygen.js'

const a = generateEd25519().public
const b = ssh2.utils.generateKeyPairSync('ecdsa', {bits: 256}).public
const blob = (line: string) => line.split(' ')[1]

describe('known hosts', () => {
  test('fingerprint equals what ssh-keygen -l prints', () => {
    const dir = mkdtempSync('/tmp/berth-kh-')
    try {
      for (const key of [a, b]) {
        writeFileSync(`${dir}/k.pub`, `${key}\n`)
        const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${dir}/k.pub`], {encoding: 'utf8'})
        assert.equal(fingerprint(key), printed.split(' ')[1])
      }
    } finally {
      rmSync(dir, {recursive: true})
    }
  })

  test('parsePublicKey reads type and blob and ignores the comment', () => {
    const key = parsePublicKey(`${a} some comment`)
    assert.equal(key.type, 'ssh-ed25519')
    assert.equal(key.blob.toString('base64'), blob(a))
  })

  test('parsePublicKey refuses garbage and a blob whose type disagrees with its label', () => {
    assert.throws(() => parsePublicKey('hello world'), UsageError)
    assert.throws(() => parsePublicKey(''), UsageError)
    assert.throws(() => parsePublicKey(`ssh-rsa ${blob(a)}`), UsageError)
  })

  test('knownHostsLine writes a line that parseKnownHosts and ssh-keygen -F read back', () => {
    const line = knownHostsLine(['node-1', hostPattern('10.0.0.5', 2222)], `${a} comment`)
    assert.equal(line, `node-1,[10.0.0.5]:2222 ssh-ed25519 ${blob(a)}`)
    const dir = mkdtempSync('/tmp/berth-kh-')
    try {
      writeFileSync(`${dir}/known_hosts`, `${line}\n`)
      const found = execFileSync('ssh-keygen', ['-F', '[10.0.0.5]:2222', '-f', `${dir}/known_hosts`], {encoding: 'utf8'})
      assert.match(found, new RegExp(blob(a)!.replace(/[+/]/g, '\\$&')))
    } finally {
      rmSync(dir, {recursive: true})
    }
    assert.throws(() => knownHostsLine(['a b'], a), UsageError)
    assert.throws(() => knownHostsLine([], a), UsageError)
  })

  test('hostKeysFor matches plain, bracketed-port and hashed names; skips comments, CA lines and revoked keys', () => {
    const dir = mkdtempSync('/tmp/berth-kh-')
    try {
      // ssh-keygen -H hashes names the way OpenSSH does; our matcher must agree with it.
      writeFileSync(`${dir}/known_hosts`, `hashed.example ${b}\n`)
      execFileSync('ssh-keygen', ['-H', '-f', `${dir}/known_hosts`], {stdio: 'ignore'})
      const hashed = readFileSync(`${dir}/known_hosts`, 'utf8').trim()
      assert.match(hashed, /^\|1\|/)
      const text = [
        '# berth known hosts',
        '',
        `node-1,10.0.0.1 ${a}`,
        `[10.0.0.1]:2222 ${b}`,
        `@cert-authority * ${b}`,
        `@revoked node-2 ${b}`,
        `node-2 ${b}`,
        `node-2 ${a}`,
        hashed,
        'garbage line',
      ].join('\n')
      const entries = parseKnownHosts(text)
      assert.equal(entries.length, 6)
      const keys = (host: string, port?: number) => hostKeysFor(entries, host, port).map(blob)
      assert.deepEqual(keys('node-1'), [blob(a)])
      assert.deepEqual(keys('10.0.0.1'), [blob(a)])
      assert.deepEqual(keys('10.0.0.1', 2222), [blob(b)])
      assert.deepEqual(keys('node-2'), [blob(a)])
      assert.deepEqual(keys('hashed.example'), [blob(b)])
      assert.deepEqual(keys('unknown'), [])
    } finally {
      rmSync(dir, {recursive: true})
    }
  })
})
