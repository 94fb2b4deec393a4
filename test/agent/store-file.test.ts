import assert from 'node:assert/strict'
import {appendFile, readFile, rename, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {describe, it} from 'node:test'

import {validateServiceSpec} from '../../src/agent/spec.js'
import {FileStore} from '../../src/agent/store-file.js'
import {UsageError} from '../../src/errors.js'
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
