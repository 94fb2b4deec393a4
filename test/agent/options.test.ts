import assert from 'node:assert/strict'
import {hostname} from 'node:os'
import path from 'node:path'
import {writeFile} from 'node:fs/promises'
import {describe, it} from 'node:test'

import {agentOptionsFrom, isLoopback, loadAgentOptions, parseListen, readToken} from '../../src/agent/options.js'
import {UsageError} from '../../src/errors.js'
import {scratch} from '../support/cli.js'

const file = '/etc/berth/agent.json'

/** The lines a user would read for `raw`, or a failure when it was accepted. */
async function problems(raw: unknown): Promise<string[]> {
  try {
    await agentOptionsFrom(raw, file)
  } catch (error) {
    assert.ok(error instanceof UsageError, String(error))
    return error.message.split('\n')
  }
  assert.fail('the options were accepted')
}

describe('agent options', () => {
  it('fills in every default from an empty object', async () => {
    assert.deepEqual(await agentOptionsFrom({}, file), {
      file,
      listen: '0.0.0.0:8443',
      store: {kind: 'file', path: '/var/lib/berth/desired.yaml'},
      tokenFile: '/etc/berth/secrets/api-token',
      allowedOrigins: [],
      tls: {certFile: '/etc/berth/secrets/api.crt', keyFile: '/etc/berth/secrets/api.key'},
      insecureHttp: false,
      secrets: {kind: 'local', masterKeyFile: '/etc/berth/secrets/master.key'},
      unitPrefix: 'berth-',
      unitDir: '/etc/systemd/system',
      machine: hostname().split('.')[0]?.toLowerCase(),
      role: 'main',
      resyncSeconds: 30,
      metrics: {enabled: true},
      labels: {},
      offlineGraceSeconds: 15,
      scheduler: {lostAfterSeconds: 5},
    })
  })

  it('keeps given values, resolves relative paths against the file, and defaults the etcd prefix', async () => {
    const options = await agentOptionsFrom({
      listen: '127.0.0.1:9443', store: {kind: 'etcd', endpoints: ['http://10.0.0.11:2379']}, tokenFile: 'token',
      tls: {certFile: 'tls/api.crt', keyFile: '/abs/api.key'}, secrets: {kind: 'kms', keyId: 'alias/berth', region: 'eu-west-1'},
      unitPrefix: 'air-', machine: 'node-1', role: 'worker', resyncSeconds: 5, allowedOrigins: ['https://admin.example.com'],
    }, 'conf/agent.json')
    assert.deepEqual(options.store, {kind: 'etcd', endpoints: ['http://10.0.0.11:2379'], prefix: '/berth'})
    assert.equal(options.tokenFile, path.resolve('conf/token'))
    assert.deepEqual(options.tls, {certFile: path.resolve('conf/tls/api.crt'), keyFile: '/abs/api.key'})
    assert.deepEqual(options.secrets, {kind: 'kms', keyId: 'alias/berth', region: 'eu-west-1'})
    assert.deepEqual([options.unitPrefix, options.machine, options.role, options.resyncSeconds], ['air-', 'node-1', 'worker', 5])
  })

  it('reports unknown keys everywhere, with the file, the path and the known keys', async () => {
    assert.deepEqual(await problems({listenn: '0.0.0.0:1', store: {kind: 'postgres', url: 'postgres://db/x', pool: 3}, secrets: {kind: 'local', masterKeyFile: 'k', keyId: 'x'}}), [
      '/etc/berth/agent.json: listenn: unknown key (remove it; known keys here: listen, store, tokenFile, allowedOrigins, tls, insecureHttp, secrets, unitPrefix, unitDir, machine, role, resyncSeconds, metrics, agentCheck, labels, capacity, offlineGraceSeconds, scheduler, snapshots)',
      '/etc/berth/agent.json: store/pool: unknown key (remove it; known keys here: kind, url)',
      '/etc/berth/agent.json: secrets/keyId: unknown key (remove it; known keys here: kind, masterKeyFile)',
    ])
  })

  it('refuses the admin token inline, pointing at tokenFile', async () => {
    assert.deepEqual(await problems({token: 'abc', apiToken: 'def'}), [
      '/etc/berth/agent.json: token: the admin token must not be in the options file (write it to a file with mode 0600 and name that file in tokenFile)',
      '/etc/berth/agent.json: apiToken: the admin token must not be in the options file (write it to a file with mode 0600 and name that file in tokenFile)',
    ])
  })

  it('checks each store and secrets kind for its own fields', async () => {
    assert.deepEqual(await problems({store: {kind: 'etcd'}, secrets: {kind: 'vault'}, role: 'boss', resyncSeconds: 0}), [
      '/etc/berth/agent.json: store/endpoints: is required (add it; schema/agent-options.schema.json describes every key)',
      '/etc/berth/agent.json: secrets/kind: "vault" is not allowed (use one of: local, kms)',
      '/etc/berth/agent.json: role: "boss" is not allowed (use one of: main, worker, data)',
      '/etc/berth/agent.json: resyncSeconds: must be >= 1 (Seconds between full passes when no change is seen (default 30).)',
    ])
  })

  it('allows plain HTTP only on loopback, and not together with tls', async () => {
    assert.equal((await agentOptionsFrom({listen: '127.0.0.1:8080', insecureHttp: true}, file)).tls, undefined)
    assert.equal((await agentOptionsFrom({listen: '[::1]:8080', insecureHttp: true}, file)).insecureHttp, true)
    assert.deepEqual(await problems({insecureHttp: true}), [
      '/etc/berth/agent.json: insecureHttp: plain HTTP is allowed only on a loopback address, and listen is 0.0.0.0:8443 (listen on 127.0.0.1 or give tls: {certFile, keyFile})',
    ])
    assert.deepEqual(await problems({listen: 'localhost:1', insecureHttp: true, tls: {certFile: 'a', keyFile: 'b'}}), [
      '/etc/berth/agent.json: tls: tls and insecureHttp exclude each other (remove one of them)',
    ])
  })

  it('splits listen addresses and knows loopback', () => {
    assert.deepEqual(parseListen('0.0.0.0:8443'), {host: '0.0.0.0', port: 8443})
    assert.deepEqual(parseListen('[::1]:0'), {host: '::1', port: 0})
    assert.deepEqual(['127.0.0.1', '127.9.9.9', '::1', 'localhost', '0.0.0.0', '10.0.0.1', '::', 'localhost.evil.com'].map(isLoopback), [true, true, true, true, false, false, false, false])
  })

  it('reads a file, reporting bad JSON with the file name', async () => {
    const dir = await scratch('berth-options-')
    const good = path.join(dir, 'agent.json')
    await writeFile(good, JSON.stringify({store: {kind: 'file', path: 'desired.yaml'}}))
    assert.deepEqual((await loadAgentOptions(good)).store, {kind: 'file', path: path.join(dir, 'desired.yaml')})
    await writeFile(good, '{"store": ')
    await assert.rejects(loadAgentOptions(good), (error: Error) => error instanceof UsageError && error.message.startsWith(`${good}: is not valid JSON`))
    await assert.rejects(loadAgentOptions(path.join(dir, 'missing.json')), /cannot read the options file \(ENOENT\)/)
  })

  it('reads the token from a 0600 file only, and only a long one', async () => {
    const dir = await scratch('berth-token-')
    const token = path.join(dir, 'token')
    await writeFile(token, 'abcdef0123456789abcdef\n', {mode: 0o600})
    assert.equal(await readToken(token), 'abcdef0123456789abcdef')
    await writeFile(path.join(dir, 'open'), 'abcdef0123456789abcdef\n', {mode: 0o640})
    await assert.rejects(readToken(path.join(dir, 'open')), /mode 0640 lets others read the admin token \(run chmod 600/)
    await writeFile(path.join(dir, 'short'), 'short\n', {mode: 0o600})
    await assert.rejects(readToken(path.join(dir, 'short')), /at least 16 characters/)
  })
})
