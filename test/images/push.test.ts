import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {execa} from 'execa'

import {BerthError} from '../../src/errors.js'
import {pushImage} from '../../src/images/push.js'
import {registryAddress} from '../support/services.js'

/** Every local tag of the image `ref` names, or [] when there is no such image. */
async function tagsOf(ref: string): Promise<string[]> {
  const inspected = await execa('docker', ['image', 'inspect', '--format', '{{json .RepoTags}}', ref], {reject: false})
  return inspected.exitCode === 0 ? (JSON.parse(inspected.stdout) as string[]) : []
}

describe('pushImage against the real test registry', () => {
  const repo = `berth-push-test-${randomBytes(4).toString('hex')}`
  const tag = `${repo}:1`
  let imageId = ''

  before(async () => {
    // A one-file image built FROM scratch: nothing is pulled.
    const context = await mkdtemp(path.join(tmpdir(), 'berth-push-'))
    await writeFile(path.join(context, 'hello'), repo)
    await writeFile(path.join(context, 'Dockerfile'), 'FROM scratch\nCOPY hello /hello\n')
    await execa('docker', ['build', '-q', '-t', tag, context])
    await rm(context, {recursive: true, force: true})
    imageId = (await execa('docker', ['image', 'inspect', '--format', '{{.Id}}', tag])).stdout
  })

  after(async () => {
    if (imageId) await execa('docker', ['image', 'rm', '-f', imageId], {reject: false})
  })

  it('pushes the image and leaves no registry-named tag behind on the host', async () => {
    const registry = registryAddress()
    const result = await pushImage([tag], registry)
    assert.deepEqual(result, {refs: [`${registry}/${tag}`], via: 'host'})

    const listed = await fetch(`http://${registry}/v2/${repo}/tags/list`)
    assert.equal(listed.status, 200)
    assert.deepEqual(((await listed.json()) as {tags: string[]}).tags, ['1'])
    assert.deepEqual(await tagsOf(imageId), [tag], 'only the image\'s own tag is left')
  })

  it('a registry that does not answer is an error naming the ref, and the temporary tag is gone', async () => {
    // Port 1 on loopback: nothing listens there.
    await assert.rejects(pushImage([tag], '127.0.0.1:1'), (error: Error) => {
      assert.ok(error instanceof BerthError)
      assert.match(error.message, new RegExp(`docker push 127\\.0\\.0\\.1:1/${repo}:1 failed`))
      return true
    })
    assert.deepEqual(await tagsOf(imageId), [tag])
  })
})
