import assert from 'node:assert/strict'
import {appendFile, readFile, rename, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {describe, it} from 'node:test'

import {execa} from 'execa'

import {validateServiceSpec} from '../../src/spec/service.js'
import {FileStore} from '../../src/agent/store/store-file.js'
import {UsageError} from '../../src/errors.js'
import {withFileLock} from '../../src/fsx.js'
import {scratch} from '../support/cli.js'
import {callCounter} from './store-support.js'

describe('the YAML file store', () => {
  it('sees an editor replacing the file by rename, and an in-place append', async () => {
    const file = path.join(await scratch('berth-file-store-'), 'desired.yaml')
    const store = new FileStore(file)
    const seen = callCounter(1000)
    const stop = await store.watch(seen.fn)
    try {
      // What vim and writeFileAtomic do: write a sibling, rename it over the file.
      await writeFile(`${file}.swp`, 'services:\n  web: {image: "web:1"}\n')
      await Promise.all([seen.next(), rename(`${file}.swp`, file)])
      assert.deepEqual([...(await store.services()).keys()], ['web'])
      await Promise.all([seen.next(), appendFile(file, '  api: {image: "api:1"}\n')])
      assert.deepEqual([...(await store.services()).keys()], ['api', 'web'])
    } finally {
      await stop()
    }
  })

  it('ignores other files in the folder and writes that change nothing', async () => {
    const dir = await scratch('berth-file-store-')
    const file = path.join(dir, 'desired.yaml')
    await writeFile(file, 'services: {}\n')
    const store = new FileStore(file)
    const seen = callCounter(400)
    const stop = await store.watch(seen.fn)
    try {
      await writeFile(path.join(dir, 'other.yaml'), 'x: 1\n')
      await writeFile(file, 'services: {}\n')
      await assert.rejects(seen.next(), /no change reported/)
    } finally {
      await stop()
    }
  })

  it("keeps an operator's comments and writes the file with mode 0600", async () => {
    const file = path.join(await scratch('berth-file-store-'), 'desired.yaml')
    await writeFile(file, '# managed by ops: ask in #infra\nservices:\n  web: {image: "web:1"} # the shop\n')
    const store = new FileStore(file)
    await store.putService('api', await validateServiceSpec({image: 'api:1'}))
    await store.putSealedSecret('TOKEN', Buffer.from('sealed'))
    const text = await readFile(file, 'utf8')
    assert.match(text, /^# managed by ops: ask in #infra\n/)
    assert.match(text, /# the shop/)
    assert.match(text, /TOKEN: c2VhbGVk/)
    assert.equal((await stat(file)).mode & 0o777, 0o600)
  })

  it('reports every bad service in the file with its path, and bad YAML', async () => {
    const file = path.join(await scratch('berth-file-store-'), 'desired.yaml')
    await writeFile(file, 'services:\n  web: {image: "web:1", colour: red}\n  Bad_Name: {image: "x"}\n')
    await assert.rejects(new FileStore(file).services(), (error: Error) => {
      assert.ok(error instanceof UsageError)
      assert.deepEqual(error.problems.map((p) => `${p.path}: ${p.message}`), ['services/Bad_Name: "Bad_Name" is not a valid service name', 'services/web/colour: unknown key'])
      assert.ok(error.problems.every((p) => p.file === file))
      return true
    })
    await writeFile(file, 'services: [\n')
    await assert.rejects(new FileStore(file).services(), UsageError)
  })
})

describe('the YAML file store with writers in several processes', () => {
  const storeModule = new URL('../../src/agent/store/store-file.js', import.meta.url).href

  it('loses no write when two processes write at once', async () => {
    const file = path.join(await scratch('berth-file-lock-'), 'desired.yaml')
    const writer = (who: string) => execa(process.execPath, ['--input-type=module', '-e', `
      const {FileStore} = await import(${JSON.stringify(storeModule)})
      const store = new FileStore(${JSON.stringify(file)})
      for (let i = 0; i < 15; i++) await store.putService('${who}-' + i, {image: 'web:' + i})
    `])
    await Promise.all([writer('a'), writer('b')])
    const names = [...(await new FileStore(file).services()).keys()]
    assert.equal(names.length, 30, `every write kept: ${names.join(' ')}`)
    await assert.rejects(stat(`${file}.lock`), /ENOENT/)
  })

  it('takes over the lock of a process that died, and names a lock that stays held', async () => {
    const file = path.join(await scratch('berth-file-lock-'), 'desired.yaml')
    const gone = execa(process.execPath, ['-e', '0'])
    await gone
    await writeFile(`${file}.lock`, `${gone.pid}\n`)
    await new FileStore(file).putService('web', await validateServiceSpec({image: 'web:1'}))
    assert.deepEqual([...(await new FileStore(file).services()).keys()], ['web'])

    const holder = execa('sleep', ['30'])
    try {
      await writeFile(`${file}.lock`, `${holder.pid}\n`)
      await assert.rejects(withFileLock(file, async () => 'never', 200), new RegExp(`desired\\.yaml\\.lock is still held by process ${holder.pid}`))
    } finally {
      holder.kill()
      await holder.catch(() => undefined)
    }
  })
})
