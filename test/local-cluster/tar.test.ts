import assert from 'node:assert/strict'
import {mkdtemp, readFile, rm, stat} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {test} from 'node:test'

import {execa} from 'execa'

import {parentDirs, tar} from '../../src/local-cluster/tar.js'

test('parentDirs lists every directory above a file, outermost first', () => {
  assert.deepEqual(parentDirs('var/lib/cloud/x'), ['var', 'var/lib', 'var/lib/cloud'])
  assert.deepEqual(parentDirs('x'), [])
})

test('GNU tar extracts what tar() writes, with names, modes and contents intact', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-tar-'))
  try {
    const content = 'x'.repeat(700) + '\nünïcode\n' // more than one block, multi-byte characters
    const archive = tar([
      {name: 'a', mode: 0o755},
      {name: 'a/b', mode: 0o700},
      {name: 'a/b/user-data', mode: 0o600, content},
      {name: 'a/empty', mode: 0o644, content: ''},
    ])
    assert.equal(archive.length % 512, 0)
    const listing = await execa('tar', ['-tvf', '-'], {input: archive})
    assert.match(listing.stdout, /^-rw------- root\/root\s+\d+ .* a\/b\/user-data$/m)
    await execa('tar', ['-x', '-C', dir, '-f', '-'], {input: archive})
    assert.equal(await readFile(path.join(dir, 'a/b/user-data'), 'utf8'), content)
    assert.equal((await stat(path.join(dir, 'a/b/user-data'))).mode & 0o777, 0o600)
    assert.equal((await stat(path.join(dir, 'a/b'))).mode & 0o777, 0o700)
    assert.equal(await readFile(path.join(dir, 'a/empty'), 'utf8'), '')
  } finally {
    await rm(dir, {recursive: true, force: true})
  }
})

test('tar() refuses a name that ustar cannot hold', () => {
  assert.throws(() => tar([{name: 'n'.repeat(120), mode: 0o644, content: ''}]), /name too long/)
})
