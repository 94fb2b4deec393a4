/**
 * `berth deploy` as a plan, against a real admin API (its file store), the host's dockerd
 * and the test registry: --dry-run names the image it would build and push and the
 * services that changed, and changes nothing; the real run (--detach: no agents here)
 * builds, pushes and PUTs; then the dry run finds nothing to do.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdir, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {execa} from 'execa'

import {ensureBaseImage} from '../../src/images/base.js'
import {testApi} from '../agent/api-support.js'
import {berth} from '../support/cli.js'
import {registryAddress} from '../support/services.js'

const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGr8hCqB4d3K7y0l2tqKbz8sZrG9kD1w3dXh2uYx0f8Q test'
const api = await testApi()
const connect = ['--url', api.url, '--token-file', path.join(api.dir, 'api-token'), '--ca', path.join(api.dir, 'api.crt')]

async function imagesOf(repository: string): Promise<string[]> {
  const listed = await execa('docker', ['image', 'ls', '-q', '--no-trunc', repository])
  return [...new Set(listed.stdout.split('\n').filter(Boolean))]
}

/** The names and images of the services the admin API stores. */
async function stored(): Promise<string[]> {
  const listed = await berth(['service', 'ls', '--json', ...connect])
  assert.equal(listed.exitCode, 0, listed.stderr)
  return (JSON.parse(listed.stdout) as {services: {name: string; spec: {image: string}}[]}).services.map((s) => `${s.name} ${s.spec.image}`).sort()
}

describe('berth deploy as a plan', () => {
  const repository = `berth-deploy-test/web-${randomBytes(3).toString('hex')}`
  let file = ''

  before(async () => {
    const base = await ensureBaseImage({pullTimeoutMs: 0})
    file = path.join(api.dir, 'cluster.yaml')
    await mkdir(path.join(api.dir, 'web'))
    await writeFile(path.join(api.dir, 'web', 'Dockerfile'), 'ARG BASE\nFROM ${BASE}\nCOPY page /page\n')
    await writeFile(path.join(api.dir, 'web', 'page'), 'one\n')
    await writeFile(file, [
      'name: t', `registry: {url: "${registryAddress()}"}`, `ssh: {authorizedKeys: ["${key}"]}`,
      'machines:', '  - {name: a, ip: 10.0.0.1, role: main}',
      'services:', `  web: {image: ${repository}, build: {context: web, args: {BASE: "${base.ref}"}}}`, '  worker: {image: "worker:2", roles: [data]}', '',
    ].join('\n'))
  })

  after(async () => {
    const ids = await imagesOf(repository)
    if (ids.length > 0) await execa('docker', ['image', 'rm', '-f', ...ids], {reject: false})
  })

  it('--dry-run names the image to build and push and the changed services; the run does them; then nothing is left to do', async () => {
    const before = await stored()
    const dry = await berth(['deploy', '-c', file, '--dry-run', '--timeout', '30', ...connect])
    assert.equal(dry.exitCode, 0, dry.stderr)
    const lines = dry.stdout.split('\n')
    const tag = lines[0]?.match(new RegExp(`would build (${repository}:[0-9a-f]{12}) from `))?.[1]
    assert.ok(tag, dry.stdout)
    const context = path.join(api.dir, 'web')
    assert.deepEqual(lines.slice(1), [
      `2. Compare with the specs the cluster stores: would read the stored specs through ${api.url} and compare web, worker: changed: web (image ${tag}), worker (image worker:2)`,
      `3. Send the changed specs to the admin API: would PUT web (image ${tag}), worker (image worker:2) through ${api.url}`,
      '4. Wait until every machine runs the changed services: would wait up to 30 s until every machine that runs web, worker has it active',
    ])
    assert.ok(lines[0]!.startsWith(`1. Image of web (${repository}): would build ${tag} from ${context} (Dockerfile ${context}/Dockerfile, args BASE=`), lines[0])
    assert.ok(lines[0]!.endsWith(`; would push it to ${registryAddress()}`), lines[0])
    assert.deepEqual(await stored(), before, 'the dry run stored nothing')
    assert.deepEqual(await imagesOf(repository), [], 'the dry run built nothing')

    const run = await berth(['deploy', '-c', file, '--detach', '--json', ...connect])
    assert.equal(run.exitCode, 0, run.stderr)
    const result = JSON.parse(run.stdout) as {ok: boolean; images: {service: string; tag: string; built: boolean; pushed: boolean}[]; services: {service: string; image: string; outcome: string}[]}
    assert.deepEqual(result.images, [{service: 'web', tag, built: true, pushed: true}])
    assert.deepEqual(result.services.map((s) => `${s.service} ${s.image} ${s.outcome}`), [`web ${tag} sent`, 'worker worker:2 sent'])
    assert.deepEqual((await stored()).filter((s) => /^(web|worker) /.test(s)), [`web ${tag}`, 'worker worker:2'])

    const again = await berth(['deploy', '-c', file, '--dry-run', '--json', ...connect])
    assert.equal(again.exitCode, 0, again.stderr)
    assert.deepEqual(JSON.parse(again.stdout), {plan: [
      `Image of web (${repository}): ${tag} is built already (same context, Dockerfile and args): nothing to build; ${registryAddress()} has it already: nothing to push`,
      `Compare with the specs the cluster stores: would read the stored specs through ${api.url} and compare web, worker: nothing changed`,
      'Send the changed specs to the admin API: nothing to send',
      'Wait until every machine runs the changed services: nothing changed: nothing to wait for',
    ]})
  })
})
