/**
 * The notifying registry config against the real distribution registry (the host's
 * docker-registry binary, on loopback): after a `docker push`, the registry POSTs the event
 * to a real admin API's /v1/registry-events over HTTPS, trusting the agent's self-signed
 * certificate through SSL_CERT_FILE, with the derived token; the route hands on the push with
 * its repository, tag and digest.
 */
import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {randomBytes} from 'node:crypto'
import {writeFile} from 'node:fs/promises'
import path from 'node:path'
import {after, describe, it} from 'node:test'

import {registryEventsToken, type RegistryPush} from '../../src/agent/api/registry-events.js'
import {notifyingConfig} from '../../src/local-cluster/registry-notifications.js'
import {testApi} from '../agent/api-support.js'
import {freePort, sleep} from '../agent/store-support.js'
import {scratch} from '../support/cli.js'
import {pushTestImage, removeImages} from '../support/registry-images.js'

const images: string[] = []
after(() => removeImages(images))

describe('the local cluster registry\'s push notifications', {timeout: 60_000}, () => {
  it('renders one endpoint per agent with the token as a header', () => {
    const config = notifyingConfig([{name: 'main-1', url: 'https://10.0.0.11:8443'}], 'tok', 'version: 0.1\n')
    assert.equal(config, [
      'version: 0.1',
      'notifications:',
      '  endpoints:',
      '    - name: "main-1"',
      '      url: "https://10.0.0.11:8443/v1/registry-events"',
      '      headers:',
      '        Authorization: ["Bearer tok"]',
      '      timeout: 2s',
      '      threshold: 3',
      '      backoff: 2s',
      '      ignoredmediatypes: [application/octet-stream]',
      '',
    ].join('\n'))
  })

  it('a push to the real registry reaches the agent\'s route over HTTPS, with the derived token', async () => {
    const pushes: RegistryPush[] = []
    const adminToken = randomBytes(24).toString('base64url')
    const api = await testApi({deps: {registryEvents: {token: registryEventsToken(adminToken), notify: async (p) => void pushes.push(...p)}}})
    const dir = await scratch('berth-regnotify-')
    const port = await freePort()
    const base = `version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n`
    const configFile = path.join(dir, 'config.yml')
    await writeFile(configFile, notifyingConfig([{name: 'agent', url: api.url}], registryEventsToken(adminToken), base), {mode: 0o600})
    await writeFile(path.join(dir, 'agents.pem'), api.ca)
    const server = spawn('docker-registry', ['serve', configFile], {env: {...process.env, SSL_CERT_FILE: path.join(dir, 'agents.pem')}, stdio: 'ignore'})
    after(() => void server.kill('SIGTERM'))
    for (let i = 0; i < 100 && (await fetch(`http://127.0.0.1:${port}/v2/`).catch(() => undefined))?.status !== 200; i++) await sleep(100)

    const repo = `berth-notify-${randomBytes(4).toString('hex')}`
    const pushed = await pushTestImage(`127.0.0.1:${port}`, repo, 'v1', `${repo} build`)
    images.push(pushed.id)
    for (let i = 0; i < 200 && !pushes.some((p) => p.tag === 'v1'); i++) await sleep(50)
    assert.deepEqual(pushes.filter((p) => p.tag !== undefined), [{repository: repo, tag: 'v1', digest: pushed.digest}])
    assert.ok(api.logs.some((line) => /^POST \/v1\/registry-events 200/.test(line)), api.logs.join('\n'))
  })
})
