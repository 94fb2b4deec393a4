import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdirSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {after, before, describe, test} from 'node:test'
import {execa} from 'execa'

import {BerthError, RetryableError, UsageError} from '../../src/errors.js'
import {tempPrefix, type SshConnection} from '../../src/ssh/index.js'
import {mountedType} from '../../src/ssh/upload.js'
import {openTestConnection, scratchDir} from './fixture.js'

const scratch = scratchDir('upload')
const mode = (file: string) => statSync(file).mode & 0o7777

/** Files in `dir` left by uploads of `target` (temp files), by name. */
const temps = (dir: string, target: string) => readdirSync(dir).filter((f) => f.startsWith(tempPrefix(target)))

describe('uploadFileAtomic', () => {
  let conn: SshConnection
  before(async () => {
    conn = await openTestConnection()
  })
  after(async () => {
    await conn?.close()
    scratch.remove()
  })

  test('writes the content with mode 0600 and leaves no temp file', async () => {
    const file = `${scratch.dir}/a/master.key`
    mkdirSync(`${scratch.dir}/a`)
    await conn.uploadFileAtomic(file, 'key material\n')
    assert.equal(readFileSync(file, 'utf8'), 'key material\n')
    assert.equal(mode(file), 0o600)
    assert.deepEqual(temps(`${scratch.dir}/a`, file), [])
  })

  test('creates missing directories with mode 0700', async () => {
    const file = `${scratch.dir}/b/etc/berth/secrets/token`
    await conn.uploadFileAtomic(file, Buffer.from([0, 1, 2, 255]))
    assert.deepEqual(readFileSync(file), Buffer.from([0, 1, 2, 255]))
    assert.equal(mode(`${scratch.dir}/b/etc/berth/secrets`), 0o700)
    assert.equal(mode(`${scratch.dir}/b/etc`), 0o700)
  })

  test('replaces an existing file (plain SFTP rename would refuse)', async () => {
    const file = `${scratch.dir}/c`
    writeFileSync(file, 'old', {mode: 0o644})
    const before = statSync(file).ino
    await conn.uploadFileAtomic(file, 'new')
    assert.equal(readFileSync(file, 'utf8'), 'new')
    assert.equal(mode(file), 0o600)
    assert.notEqual(statSync(file).ino, before, 'a new inode: the file was renamed over, not rewritten in place')
  })

  test('applies the requested mode exactly, whatever the umask', async () => {
    const file = `${scratch.dir}/d`
    await conn.uploadFileAtomic(file, 'x', 0o640)
    assert.equal(mode(file), 0o640)
  })

  test('a large file arrives intact and reports progress', async () => {
    const file = `${scratch.dir}/e`
    const data = randomBytes(3 * 1024 * 1024 + 17)
    const seen: number[] = []
    await conn.uploadFileAtomic(file, data, 0o600, {onProgress: (written, total) => seen.push(written / total)})
    assert.ok(readFileSync(file).equals(data))
    assert.equal(seen.at(-1), 1)
    assert.ok(seen.length > 1)
  })

  test('a connection dropped mid-upload leaves the old file intact, and a harmless temp file', async () => {
    const file = `${scratch.dir}/f`
    writeFileSync(file, 'previous secrets', {mode: 0o600})
    const doomed = await openTestConnection()
    const secret = Buffer.concat([Buffer.from('SECRET-upload-3b1d'), randomBytes(32 * 1024 * 1024)])
    let dropped = false
    const upload = doomed.uploadFileAtomic(file, secret, 0o600, {
      onProgress: (written) => {
        if (written >= 1024 * 1024 && !dropped) {
          dropped = true
          doomed.destroy()
        }
      },
    })
    await assert.rejects(upload, (error: unknown) => {
      assert.ok(error instanceof RetryableError, String(error))
      assert.match(error.message, /connection lost while uploading .*the previous file is unchanged/)
      assert.ok(!error.message.includes('SECRET-upload'))
      return true
    })
    assert.ok(dropped, 'the upload was interrupted, not finished')
    assert.equal(readFileSync(file, 'utf8'), 'previous secrets')
    // The server could not be told to delete the partial temp file; it is hidden, 0600 and
    // named after its target, and the next upload of that file removes it.
    const left = temps(scratch.dir, file)
    assert.equal(left.length, 1, 'the partial temp file of the dropped upload')
    assert.equal(mode(`${scratch.dir}/${left[0]}`), 0o600)
    assert.ok(statSync(`${scratch.dir}/${left[0]}`).size < secret.length)
    await conn.uploadFileAtomic(file, 'next secrets', 0o600, {staleTempAgeMs: 0})
    assert.equal(readFileSync(file, 'utf8'), 'next secrets')
    assert.deepEqual(temps(scratch.dir, file), [])
  })

  test('a failure names host, path and step but never the content', async () => {
    writeFileSync(`${scratch.dir}/plain-file`, '')
    const secret = 'SECRET-content-91ce'
    await assert.rejects(conn.uploadFileAtomic(`${scratch.dir}/plain-file/x/secret`, secret), (error: unknown) => {
      assert.ok(error instanceof BerthError, String(error))
      assert.ok(!(error instanceof RetryableError))
      assert.ok(error.message.startsWith(`${conn.where}: `), error.message)
      assert.match(error.message, /plain-file.* is not a directory|plain-file\/x/)
      assert.ok(!error.message.includes(secret))
      assert.ok(!String(error.stack).includes(secret))
      return true
    })
  })

  test('a batch puts its last file in place after all the others, and not at all when one fails', async () => {
    const dir = `${scratch.dir}/batch`
    const events: string[] = []
    const onFile = (p: string, state: string) => events.push(`${p.slice(dir.length + 1)} ${state}`)
    const files = ['one', 'two', 'sub/three'].map((name) => ({path: `${dir}/${name}`, data: `${name}\n`}))
    await conn.uploadFilesAtomic([...files, {path: `${dir}/marker`, data: 'done\n', mode: 0o644}], onFile)
    assert.deepEqual(events.slice(-2), ['marker start', 'marker done'])
    assert.equal(events.filter((e) => e.endsWith('done')).length, 4)
    assert.equal(readFileSync(`${dir}/sub/three`, 'utf8'), 'sub/three\n')
    assert.equal(mode(`${dir}/marker`), 0o644)

    writeFileSync(`${dir}/plain`, '')
    events.length = 0
    const broken = [{path: `${dir}/one`, data: 'one again\n'}, {path: `${dir}/plain/x`, data: 'x'}, {path: `${dir}/marker`, data: 'again\n'}]
    await assert.rejects(conn.uploadFilesAtomic(broken, onFile), (error: unknown) => {
      assert.ok(error instanceof BerthError && /plain\/x failed/.test(error.message), String(error))
      return true
    })
    assert.equal(readFileSync(`${dir}/one`, 'utf8'), 'one again\n', 'the good file went in')
    assert.equal(readFileSync(`${dir}/marker`, 'utf8'), 'done\n', 'the marker was left as it was')
    assert.ok(!events.includes('marker start'))
    assert.deepEqual(readdirSync(dir).filter((f) => f.includes('berth-tmp')), [])
  })

  test('with inMemory, writes only into a tmpfs mount and refuses a folder on disk, writing nothing', async () => {
    const ram = `${scratch.dir}/ram`
    const disk = `${scratch.dir}/disk`
    mkdirSync(ram)
    mkdirSync(disk)
    await execa('mount', ['-t', 'tmpfs', '-o', 'mode=0700,size=1m', 'tmpfs', ram])
    try {
      await conn.uploadFilesAtomic([{path: `${ram}/api-token`, data: 'in memory\n'}], undefined, {inMemory: ram})
      assert.equal(readFileSync(`${ram}/api-token`, 'utf8'), 'in memory\n')
      await assert.rejects(conn.uploadFilesAtomic([{path: `${disk}/api-token`, data: 'on disk\n'}], undefined, {inMemory: disk}), (error: unknown) => {
        assert.ok(error instanceof BerthError, String(error))
        assert.ok(error.message.includes(`${disk} is not a mount, not tmpfs; berth writes node secrets only to memory`), error.message)
        assert.ok(!error.message.includes('on disk'))
        return true
      })
      assert.deepEqual(readdirSync(disk), [], 'nothing was written')
    } finally {
      await execa('umount', [ram])
    }
  })

  test('mountedType reads /proc/mounts: octal escapes, and the last mount on a path wins', () => {
    const mounts = [
      '/dev/vda / ext4 rw,relatime 0 0',
      'tmpfs /etc/berth/secrets tmpfs rw,nosuid,size=1024k,mode=700 0 0',
      'tmpfs /srv/a\\040b tmpfs rw 0 0',
      '/dev/vdb /mnt xfs rw 0 0',
      'tmpfs /mnt tmpfs rw 0 0',
    ].join('\n')
    assert.equal(mountedType(mounts, '/etc/berth/secrets'), 'tmpfs')
    assert.equal(mountedType(mounts, '/srv/a b'), 'tmpfs')
    assert.equal(mountedType(mounts, '/mnt'), 'tmpfs')
    assert.equal(mountedType(mounts, '/etc/berth'), undefined)
  })

  test('a relative target is a usage error', async () => {
    await assert.rejects(conn.uploadFileAtomic('etc/berth/x', 'x'), UsageError)
  })

  test('the connection stays usable after a failed upload', async () => {
    assert.equal((await conn.exec('echo still here')).stdout, 'still here\n')
  })
})
