import assert from 'node:assert/strict'
import {createHash} from 'node:crypto'
import {readFile, writeFile} from 'node:fs/promises'
import {describe, it} from 'node:test'

import {qualifiedImage} from '../../src/images/reference.js'
import type {ServiceSpec} from '../../src/spec/service.js'
import {cachingRenderer, dockerRunArgs, renderUnit} from '../../src/agent/plan/unit.js'
import {renderLabelFile, specHash} from '../../src/agent/plan/docker-run.js'
import {shipped} from '../../src/paths.js'

const minimal: ServiceSpec = {image: 'web:1.0', stopTimeout: 10, restart: 'always', roles: ['main', 'worker']}

const full: ServiceSpec = {
  image: 'team/api:2.3',
  command: ['serve', '--listen', '0.0.0.0:80', '--greeting', 'hello world 100%'],
  env: {LOG_LEVEL: 'info', FEATURES: {beta: true}},
  secrets: ['DB_PASSWORD'],
  ports: ['127.0.0.1:8080:80', '9090:9090/udp'],
  volumes: ['api-data:/var/lib/api', 'api-cache:/cache:ro'],
  mounts: [{source: '/srv/api/config', target: '/etc/api', readOnly: true}, {source: '/srv/api/uploads', target: '/uploads'}],
  user: '1000:1000',
  capabilities: {add: ['NET_BIND_SERVICE'], drop: ['ALL']},
  memory: '512m',
  readOnly: true,
  labels: {team: 'core', 'com.example.tier': 'backend'},
  stopTimeout: 45,
  restart: 'on-failure',
  roles: ['worker'],
}

const opts = {registry: '10.0.0.2:5000'}

/** Compares with test/agent/golden/NAME, or rewrites it when UPDATE_GOLDEN=1. */
async function assertGolden(name: string, actual: string): Promise<void> {
  const file = shipped('test', 'agent', 'golden', name)
  if (process.env.UPDATE_GOLDEN === '1') await writeFile(file, actual)
  assert.equal(actual, await readFile(file, 'utf8'))
}

describe('dockerRunArgs', () => {
  it('runs a minimal service with berth labels only, and its label and env files', () => {
    assert.deepEqual(dockerRunArgs('berth-', 'web', minimal, opts), [
      'run', '--rm', '--init', '--name', 'berth-web',
      '--label', 'berth.managed=true', '--label', 'berth.service=web',
      '--label-file', '/run/berth/berth-web.labels', '--env-file', '/run/berth/berth-web.env',
      '10.0.0.2:5000/web:1.0',
    ])
  })

  it('passes every field of a full service, env only through the env file', () => {
    assert.deepEqual(dockerRunArgs('berth-', 'api', full, opts), [
      'run', '--rm', '--init', '--name', 'berth-api',
      '--label', 'berth.managed=true', '--label', 'berth.service=api',
      '--label-file', '/run/berth/berth-api.labels', '--env-file', '/run/berth/berth-api.env',
      '--publish', '127.0.0.1:8080:80', '--publish', '9090:9090/udp',
      '--volume', 'api-data:/var/lib/api', '--volume', 'api-cache:/cache:ro',
      '--mount', 'type=bind,source=/srv/api/config,target=/etc/api,readonly', '--mount', 'type=bind,source=/srv/api/uploads,target=/uploads',
      '--user', '1000:1000', '--cap-add', 'NET_BIND_SERVICE', '--cap-drop', 'ALL', '--memory', '512m', '--read-only',
      '--label', 'com.example.tier=backend', '--label', 'team=core',
      '10.0.0.2:5000/team/api:2.3', 'serve', '--listen', '0.0.0.0:80', '--greeting', 'hello world 100%',
    ])
  })

  it('runs a pinned service by repository@digest, and the digest is part of the spec hash while autoUpgrade is not', () => {
    const digest = `sha256:${'e'.repeat(64)}`
    const args = dockerRunArgs('berth-', 'web', {...minimal, imageDigest: digest}, opts)
    assert.equal(args.at(-1), `10.0.0.2:5000/web@${digest}`)
    assert.notEqual(specHash('berth-', 'web', {...minimal, imageDigest: digest}, opts), specHash('berth-', 'web', minimal, opts), 'a new digest restarts the container')
    assert.deepEqual(dockerRunArgs('berth-', 'web', {...minimal, autoUpgrade: true}, opts), dockerRunArgs('berth-', 'web', minimal, opts), 'following the tag alone restarts nothing')
  })

  it('takes the directory of the label and env files from the options', () => {
    const args = dockerRunArgs('air-', 'db', {...minimal, secrets: ['PGPASSWORD']}, {envFileDir: '/run/air'})
    assert.deepEqual(args.slice(9, 13), ['--label-file', '/run/air/air-db.labels', '--env-file', '/run/air/air-db.env'])
  })

  it('changes the spec hash when anything that shapes the container changes, env included', () => {
    const hash = (spec: ServiceSpec, o = opts): string => specHash('berth-', 'web', spec, o)
    const base = hash(minimal)
    for (const changed of [hash({...minimal, env: {A: '1'}}), hash({...minimal, secrets: ['S']}), hash({...minimal, stopTimeout: 11}), hash(minimal, {registry: 'other:5000'})]) {
      assert.notEqual(changed, base)
    }
    assert.equal(hash({restart: 'always', roles: ['main', 'worker'], stopTimeout: 10, image: 'web:1.0'}), base, 'key order does not matter')
    assert.equal(renderLabelFile(base), `berth.spec-hash=${base}\n`)
  })

  it('keeps the argv, so the unit, of a service whose env or secrets change, the first ones included', () => {
    const changes: ServiceSpec[] = [{...minimal, env: {A: '1'}}, {...minimal, env: {A: '2', B: 'x'}}, {...minimal, secrets: ['S']}]
    for (const changed of changes) {
      assert.deepEqual(dockerRunArgs('berth-', 'web', changed, opts), dockerRunArgs('berth-', 'web', minimal, opts))
      const unit = renderUnit('berth-', 'web', changed, opts)
      assert.equal(unit.hash, renderUnit('berth-', 'web', minimal, opts).hash)
      assert.notEqual(unit.specHash, renderUnit('berth-', 'web', minimal, opts).specHash, 'while the container is stale')
    }
  })

  const images: [string, string | undefined, string][] = [
    ['web:1', '10.0.0.2:5000', '10.0.0.2:5000/web:1'],
    ['team/web', 'reg.local', 'reg.local/team/web'],
    ['registry.example.com/web:1', '10.0.0.2:5000', 'registry.example.com/web:1'],
    ['10.0.0.9:5000/web', '10.0.0.2:5000', '10.0.0.9:5000/web'],
    ['localhost/web', '10.0.0.2:5000', 'localhost/web'],
    ['web@sha256:abc', '10.0.0.2:5000', '10.0.0.2:5000/web@sha256:abc'],
    ['web:1', undefined, 'web:1'],
  ]
  for (const [image, registry, expected] of images) {
    it(`runs ${image} with registry ${registry} as ${expected}`, () => assert.equal(qualifiedImage(image, registry), expected))
  }
})

describe('renderUnit', () => {
  it('renders a minimal service as the golden unit', async () => {
    const unit = renderUnit('berth-', 'web', minimal, opts)
    assert.equal(unit.name, 'berth-web.service')
    await assertGolden('minimal.service', unit.content)
  })

  it('renders a full service as the golden unit', async () => {
    const unit = renderUnit('berth-', 'api', full, opts)
    assert.equal(unit.name, 'berth-api.service')
    await assertGolden('full.service', unit.content)
  })

  it('hashes the content it returns, and carries the spec hash of its container', () => {
    const unit = renderUnit('berth-', 'api', full, opts)
    assert.equal(unit.hash, createHash('sha256').update(unit.content).digest('hex'))
    assert.equal(unit.specHash, 'bb3d89f2dd73242f')
    assert.ok(!unit.content.includes('spec-hash'), 'the hash is in the label file, not the unit')
    assert.ok(unit.content.includes('--label-file /run/berth/berth-api.labels'))
  })

  it('gives systemd more time to stop than docker stop waits', () => {
    for (const stopTimeout of [1, 10, 3600]) {
      const content = renderUnit('berth-', 'web', {...minimal, stopTimeout}).content
      assert.ok(content.includes(`ExecStop=/usr/bin/docker stop -t ${stopTimeout} berth-web\n`))
      assert.ok(content.includes(`TimeoutStopSec=${stopTimeout + 15}\n`))
    }
  })
})

describe('stopTimeout infinity', () => {
  const patient: ServiceSpec = {...minimal, stopTimeout: 'infinity'}

  it('renders the golden unit: docker stop -t -1 and TimeoutStopSec=infinity', async () => {
    const unit = renderUnit('berth-', 'db', patient, opts)
    await assertGolden('stop-infinity.service', unit.content)
    assert.ok(unit.content.includes('ExecStop=/usr/bin/docker stop -t -1 berth-db\n'))
    assert.ok(unit.content.includes('TimeoutStopSec=infinity\n'))
  })

  it('tells docker run to wait forever too, and only such a spec gets the flag', () => {
    const args = dockerRunArgs('berth-', 'db', patient, opts)
    assert.deepEqual(args.slice(-3), ['--stop-timeout', '-1', '10.0.0.2:5000/web:1.0'])
    assert.ok(!dockerRunArgs('berth-', 'db', minimal, opts).includes('--stop-timeout'))
    assert.notEqual(specHash('berth-', 'db', patient, opts), specHash('berth-', 'db', minimal, opts), 'the spec hash changes with it')
  })
})

describe('cachingRenderer', () => {
  it('renders a spec object once per name, and again for a new object or another name', () => {
    const render = cachingRenderer(opts)
    const first = render('berth-', 'web', minimal)
    assert.equal(render('berth-', 'web', minimal), first)
    assert.deepEqual(first, renderUnit('berth-', 'web', minimal, opts))
    const copy = {...minimal, image: 'web:2.0'}
    assert.notEqual(render('berth-', 'web', copy).hash, first.hash)
    assert.equal(render('berth-', 'other', minimal).name, 'berth-other.service')
  })
})

describe('canonicalJson', () => {
  it('sorts keys at every depth, drops undefined members, and keeps array order', async () => {
    const {canonicalJson} = await import('../../src/hash.js')
    assert.equal(canonicalJson({b: 1, a: {d: [3, {z: null, y: 'x'}], c: undefined}}), '{"a":{"d":[3,{"y":"x","z":null}]},"b":1}')
    assert.equal(canonicalJson([undefined, 'a"b']), '[null,"a\\"b"]')
    assert.equal(canonicalJson({}), '{}')
    // Equal values written in another key order hash the same.
    const spec = {image: 'web:1', env: {B: '2', A: '1'}, ports: ['80:8080']}
    assert.equal(canonicalJson(spec), canonicalJson({ports: ['80:8080'], env: {A: '1', B: '2'}, image: 'web:1'}))
    assert.equal(canonicalJson(spec), JSON.stringify({env: {A: '1', B: '2'}, image: 'web:1', ports: ['80:8080']}))
  })
})
