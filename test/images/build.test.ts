import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {execa} from 'execa'

import {ensureBaseImage} from '../../src/images/base.js'
import {berth} from '../support/cli.js'
import {registryAddress} from '../support/services.js'

const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGr8hCqB4d3K7y0l2tqKbz8sZrG9kD1w3dXh2uYx0f8Q test'

type Built = {images: Array<{service: string; tag: string; built: boolean; pushed: boolean}>}

/** Image ids of every local image the run made (its repository is unique to the run). */
async function imagesOf(repository: string): Promise<string[]> {
  const listed = await execa('docker', ['image', 'ls', '-q', '--no-trunc', repository])
  return [...new Set(listed.stdout.split('\n').filter(Boolean))]
}

describe('images build of a service from cluster.yaml, on the host\'s dockerd and the test registry', () => {
  const repository = `berth-build-test/web-${randomBytes(3).toString('hex')}`
  let dir = ''
  let file = ''

  before(async () => {
    // FROM the base berth already builds (debian:bookworm or its debootstrap one): nothing is pulled.
    const base = await ensureBaseImage({pullTimeoutMs: 0})
    dir = await mkdtemp(path.join(tmpdir(), 'berth-build-'))
    file = path.join(dir, 'cluster.yaml')
    await mkdir(path.join(dir, 'web'))
    await writeFile(path.join(dir, 'web', 'Dockerfile'), 'ARG BASE\nFROM ${BASE}\nARG GREETING\nCOPY page /page\nRUN echo "$GREETING" >> /page\n')
    await writeFile(path.join(dir, 'web', 'page'), 'one\n')
    await writeFile(file, [
      'name: t', `registry: {url: "${registryAddress()}"}`, `ssh: {authorizedKeys: ["${key}"]}`,
      'machines:', '  - {name: a, ip: 10.0.0.1, role: main}',
      'services:', `  web: {image: ${repository}, build: {context: web, args: {BASE: "${base.ref}", GREETING: hi}}}`, '',
    ].join('\n'))
  })

  after(async () => {
    await rm(dir, {recursive: true, force: true})
    const ids = await imagesOf(repository)
    if (ids.length > 0) await execa('docker', ['image', 'rm', '-f', ...ids], {reject: false})
  })

  async function build(): Promise<Built['images'][number]> {
    const result = await berth(['images', 'build', 'web', '--push', '-c', file, '--json'])
    assert.equal(result.exitCode, 0, result.stderr || result.stdout)
    const {images} = JSON.parse(result.stdout) as Built
    assert.equal(images.length, 1)
    return images[0]!
  }

  it('builds, tags by content and pushes; again unchanged, it builds and pushes nothing; a changed file builds anew', async () => {
    // The dry run names the tag the build will give, its context, Dockerfile, args and registry; it builds and pushes nothing.
    const context = path.join(dir, 'web')
    const args = `args BASE=${(await ensureBaseImage({pullTimeoutMs: 0})).ref} GREETING=hi`
    const dry = await berth(['images', 'build', 'web', '--push', '-c', file, '--dry-run'])
    assert.equal(dry.exitCode, 0, dry.stderr)
    const quoted = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    const planned = dry.stdout.match(new RegExp(`^1\\. Image of web \\(${repository}\\): would build (${repository}:[0-9a-f]{12}) from ${quoted(`${context} (Dockerfile ${context}/Dockerfile, ${args}); would push it to ${registryAddress()}`)}$`))
    assert.ok(planned, dry.stdout)
    assert.deepEqual(await imagesOf(repository), [], 'the dry run built nothing')

    const first = await build()
    assert.match(first.tag, new RegExp(`^${repository}:[0-9a-f]{12}$`))
    assert.equal(first.tag, planned[1], 'the tag the dry run named')
    const again = await berth(['images', 'build', 'web', '--push', '-c', file, '--dry-run', '--json'])
    assert.deepEqual(JSON.parse(again.stdout), {plan: [`Image of web (${repository}): ${first.tag} is built already (same context, Dockerfile and args): nothing to build; ${registryAddress()} has it already: nothing to push`]})
    assert.deepEqual({built: first.built, pushed: first.pushed}, {built: true, pushed: true})
    const page = await execa('docker', ['run', '--rm', first.tag, 'cat', '/page'])
    assert.equal(page.stdout, 'one\nhi', 'the args reached the build')
    const [repo, tag] = first.tag.split(':')
    const listed = await fetch(`http://${registryAddress()}/v2/${repo}/tags/list`)
    assert.deepEqual(((await listed.json()) as {tags: string[]}).tags, [tag])

    assert.deepEqual(await build(), {...first, built: false, pushed: false})

    await writeFile(path.join(dir, 'web', 'page'), 'two\n')
    const second = await build()
    assert.notEqual(second.tag, first.tag)
    assert.deepEqual({built: second.built, pushed: second.pushed}, {built: true, pushed: true})
    assert.equal((await execa('docker', ['run', '--rm', second.tag, 'cat', '/page'])).stdout, 'two\nhi')
  })

  it('an unknown service is exit 2 naming the ones that build', async () => {
    const result = await berth(['images', 'build', 'nope', '-c', file])
    assert.equal(result.exitCode, 2)
    assert.match(result.stderr, /nope: is not a service of cluster\.yaml \(name one of: web\)/)
  })
})
