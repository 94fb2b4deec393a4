import assert from 'node:assert/strict'
import {writeFile} from 'node:fs/promises'
import path from 'node:path'
import {describe, it} from 'node:test'

import {berth, type CliResult} from '../support/cli.js'
import {testApi, tokenFile} from '../agent/api-support.js'

const api = await testApi()
const connect = ['--url', api.url, '--token-file', path.join(api.dir, 'api-token'), '--ca', path.join(api.dir, 'api.crt')]

function ok(result: CliResult): CliResult {
  assert.equal(result.exitCode, 0, result.stderr)
  return result
}

describe('berth service against a real admin API', () => {
  it('deploys every service of a YAML file', async () => {
    const file = path.join(api.dir, 'services.yaml')
    await writeFile(file, 'services:\n  web:\n    image: registry.local/web:1\n    ports: ["8080:80"]\n  worker:\n    image: worker:2\n    roles: [data]\n')
    assert.equal(ok(await berth(['service', 'deploy', file, ...connect])).stdout, 'Deployed web (registry.local/web:1).\nDeployed worker (worker:2).')
    assert.deepEqual([...(await api.store.services()).keys()], ['web', 'worker'])
  })

  it('deploys a JSON file too, and answers --json', async () => {
    const file = path.join(api.dir, 'services.json')
    await writeFile(file, JSON.stringify({services: {api: {image: 'api:3', env: {MODE: 'prod'}}}}))
    assert.deepEqual(JSON.parse(ok(await berth(['service', 'deploy', file, '--json', ...connect])).stdout), {deployed: ['api']})
    assert.deepEqual((await api.store.services()).get('api')?.env, {MODE: 'prod'})
  })

  it('lists services as a table and as JSON', async () => {
    assert.equal(ok(await berth(['service', 'ls', ...connect])).stdout, [
      'NAME    IMAGE                 ROLES        PORTS',
      'api     api:3                 main,worker  -',
      'web     registry.local/web:1  main,worker  8080:80',
      'worker  worker:2              data         -',
    ].join('\n'))
    const listed = JSON.parse(ok(await berth(['service', 'ls', '--json', ...connect])).stdout) as {services: Array<{name: string}>}
    assert.deepEqual(listed.services.map((s) => s.name), ['api', 'web', 'worker'])
  })

  it('refuses a file with any bad service with exit code 2, sending nothing', async () => {
    const file = path.join(api.dir, 'bad.yaml')
    await writeFile(file, 'services:\n  good:\n    image: good:1\n  Bad_Name:\n    image: x\n  web:\n    image: web:2\n    colour: red\nextra: 1\n')
    const result = await berth(['service', 'deploy', file, ...connect])
    assert.equal(result.exitCode, 2)
    assert.deepEqual(result.stderr.split('\n').map((l) => l.replace(/ \(.*\)$/, '')), [
      `berth: ${file}: extra: unknown key`,
      `berth: ${file}: services/Bad_Name: "Bad_Name" is not a valid service name`,
      `berth: ${file}: services/web/colour: unknown key`,
    ])
    assert.deepEqual([...(await api.store.services()).keys()], ['api', 'web', 'worker'])
    assert.equal((await api.store.services()).get('web')?.image, 'registry.local/web:1')
  })

  it('removes a service, and fails for one that is not there', async () => {
    assert.equal(ok(await berth(['service', 'rm', 'api', ...connect])).stdout, 'Removed api.')
    const again = await berth(['service', 'rm', 'api', ...connect])
    assert.equal(again.exitCode, 1)
    assert.equal(again.stderr, `berth: ${api.url}: there is no service api`)
    assert.equal((await berth(['service', 'rm', 'Bad', ...connect])).exitCode, 2)
  })

  it('fails clearly with a wrong token, an untrusted certificate or no URL', async () => {
    const wrong = await tokenFile(await import('node:fs/promises').then((fs) => fs.mkdtemp(path.join(api.dir, 'wrong-'))), 'another-token-0123456789')
    const denied = await berth(['service', 'ls', '--url', api.url, '--token-file', wrong, '--ca', path.join(api.dir, 'api.crt')])
    assert.equal(denied.exitCode, 1)
    assert.equal(denied.stderr, `berth: ${api.url}: the token is wrong; check the token file`)
    assert.ok(!denied.stderr.includes(api.token))

    const untrusted = await berth(['service', 'ls', '--url', api.url, '--token-file', path.join(api.dir, 'api-token')])
    assert.equal(untrusted.exitCode, 1)
    assert.match(untrusted.stderr, /the certificate is not trusted \(.*\); pass --ca with the agent's certificate$/)

    const skipped = ok(await berth(['service', 'ls', '--url', api.url, '--token-file', path.join(api.dir, 'api-token'), '--insecure-skip-verify']))
    assert.match(skipped.stderr, /^berth: warning: --insecure-skip-verify: the certificate of 127\.0\.0\.1:\d+ is not checked/)

    assert.equal((await berth(['service', 'ls', '--token-file', path.join(api.dir, 'api-token')], {env: {BERTH_API_URL: ''}})).exitCode, 2)
  })
})
