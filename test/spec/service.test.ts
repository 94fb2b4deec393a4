import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {validateServiceSpec} from '../../src/spec/service.js'
import {problemLines} from '../support/spec.js'

const stopFix = 'Seconds between SIGTERM and SIGKILL when stopping, 1-3600 (default 10), or "infinity" to wait for the container however long it takes and never SIGKILL it.'

describe('validateServiceSpec', () => {
  it('fills in the defaults and leaves the input untouched', async () => {
    const input = {image: 'web:1'}
    assert.deepEqual(await validateServiceSpec(input), {image: 'web:1', stopTimeout: 10, restart: 'always', roles: ['main', 'worker']})
    assert.deepEqual(input, {image: 'web:1'})
  })

  it('keeps values given for defaulted fields', async () => {
    const spec = await validateServiceSpec({image: 'db', stopTimeout: 60, restart: 'no', roles: ['data']})
    assert.deepEqual([spec.stopTimeout, spec.restart, spec.roles], [60, 'no', ['data']])
  })

  it('lists every schema problem at once, each with its path and a fix', async () => {
    assert.deepEqual(await problemLines({image: 'web', ports: ['80:80:80', '8080:80'], restart: 'sometimes', colour: 'red', stopTimeout: 0, command: 'run'}), [
      'cluster.yaml: services/web/colour: unknown key (remove it; known keys here: image, command, env, secrets, ports, volumes, mounts, user, capabilities, pullSecret, memory, readOnly, labels, stopTimeout, restart, roles, mode, replicas, placement, resources, health, update, imageDigest, autoUpgrade)',
      'cluster.yaml: services/web/command: must be an array (Arguments after the image, one list item per argument.)',
      'cluster.yaml: services/web/ports/0: "80:80:80" is not valid (Write [IP:]HOST:CONTAINER[/tcp|udp], like 8080:80 or 127.0.0.1:5432:5432.)',
      `cluster.yaml: services/web/stopTimeout: must be >= 1 (${stopFix})`,
      'cluster.yaml: services/web/restart: "sometimes" is not allowed (use one of: always, on-failure, no)',
    ])
  })

  it('takes stopTimeout "infinity", and names the path and the fix for every other bad value', async () => {
    assert.equal((await validateServiceSpec({image: 'db', stopTimeout: 'infinity'})).stopTimeout, 'infinity')
    assert.equal((await validateServiceSpec({image: 'db', stopTimeout: 3600})).stopTimeout, 3600)
    const bad: [unknown, string][] = [
      ['forever', '"forever" is not valid'],
      ['Infinity', '"Infinity" is not valid'],
      [3601, 'must be <= 3600'],
      [-1, 'must be >= 1'],
      [2.5, 'must be an integer,string'],
      [true, 'must be an integer,string'],
    ]
    for (const [value, message] of bad) {
      assert.deepEqual(await problemLines({image: 'db', stopTimeout: value}), [`cluster.yaml: services/web/stopTimeout: ${message} (${stopFix})`], JSON.stringify(value))
    }
  })

  it('reports a missing image and a spec that is not an object', async () => {
    assert.deepEqual(await problemLines({}), ['cluster.yaml: services/web/image: is required (add it; `berth cluster init` writes a commented example)'])
    assert.equal((await problemLines('web')).length, 1)
  })

  it('lists every problem the unit, the env file or the node would have with the values', async () => {
    assert.deepEqual(await problemLines({
      image: 'web',
      command: ['run', 'x\n[Service]\nExecStartPre=/bin/sh -c evil'],
      env: {CONFIG: 'line one\nline two', TOKEN: 'x'},
      secrets: ['TOKEN'],
      ports: ['999.1.1.1:8080:80', '0:80', '8080:70000/udp'],
      volumes: ['data:/var/../etc'],
      mounts: [{source: '/srv/../etc', target: '/data/..'}],
      labels: {'berth.service': 'db', note: '%h\r'},
    }), [
      'cluster.yaml: services/web/command/1: contains a newline at offset 1 (remove line breaks and control characters)',
      'cluster.yaml: services/web/labels/note: contains control character U+000D at offset 2 (remove line breaks and control characters)',
      'cluster.yaml: services/web/env/CONFIG: contains a line break, which docker env files cannot carry (put multi-line values in a mounted file)',
      'cluster.yaml: services/web/env/TOKEN: is also listed in secrets (set the variable either in env or as a secret)',
      'cluster.yaml: services/web/volumes/0: has a .. path segment (write the container path without ..)',
      'cluster.yaml: services/web/mounts/0/source: has a .. path segment (write the host path without ..)',
      'cluster.yaml: services/web/mounts/0/target: has a .. path segment (write the container path without ..)',
      'cluster.yaml: services/web/ports/0: "999.1.1.1" is not an IPv4 address (ports are 1-65535 and addresses are IPv4, like 127.0.0.1:8080:80)',
      'cluster.yaml: services/web/ports/1: "0:80" has port 0, outside 1-65535 (ports are 1-65535 and addresses are IPv4, like 127.0.0.1:8080:80)',
      'cluster.yaml: services/web/ports/2: "8080:70000/udp" has port 70000, outside 1-65535 (ports are 1-65535 and addresses are IPv4, like 127.0.0.1:8080:80)',
      'cluster.yaml: services/web/labels/berth.service: uses the reserved berth. prefix (berth sets these labels itself; choose another key)',
    ])
  })

  it('refuses commas in mount paths, which would split docker --mount', async () => {
    assert.deepEqual(await problemLines({image: 'web', mounts: [{source: '/a,readonly=false', target: '/b'}]}), [
      'cluster.yaml: services/web/mounts/0/source: "/a,readonly=false" is not valid (Absolute host path, without commas (docker --mount is comma separated).)',
    ])
  })

  it('accepts a full spec unchanged apart from defaults', async () => {
    const full = {
      image: 'team/web:2', command: ['serve', '--port', '80'], env: {A: 'x', OBJ: {k: [1]}}, secrets: ['DB_PASSWORD'],
      ports: ['127.0.0.1:8080:80/tcp'], volumes: ['data:/var/lib/web:ro'], mounts: [{source: '/srv/web', target: '/srv', readOnly: true}],
      user: '1000:1000', capabilities: {add: ['NET_ADMIN'], drop: ['ALL']}, memory: '512m', readOnly: true, labels: {team: 'core'},
    }
    assert.deepEqual(await validateServiceSpec(full), {...full, stopTimeout: 10, restart: 'always', roles: ['main', 'worker']})
  })
})

describe('reserved service names', () => {
  it('refuses the names of berth\'s own units', async () => {
    const {serviceNameProblem} = await import('../../src/spec/service.js')
    for (const name of ['agent', 'installer']) assert.match(serviceNameProblem(name)?.message ?? '', /berth's own unit/)
    assert.equal(serviceNameProblem('agents'), undefined)
  })

  it('takes a health check of each kind and keeps it as written', async () => {
    const checks = [
      {http: {port: 8080}},
      {http: {path: '/healthz?full=1', port: 80, status: 204}, interval: 2, timeout: 0.5, retries: 1, startPeriod: 30},
      {tcp: {port: 5432}, interval: 0.1},
      {exec: ['pg_isready', '-U', 'app']},
    ]
    for (const health of checks) assert.deepEqual((await validateServiceSpec({image: 'db', health})).health, health)
  })

  it('names the path and the fix for every bad health check', async () => {
    const one = 'give exactly one of http: {port, path, status}, tcp: {port} or exec: [command, args...]'
    const bad: [unknown, string][] = [
      [{}, `cluster.yaml: services/web/health: names no check (${one})`],
      [{interval: 5}, `cluster.yaml: services/web/health: names no check (${one})`],
      [{http: {port: 80}, tcp: {port: 80}}, `cluster.yaml: services/web/health: names 2 checks (http, tcp) (${one})`],
      [{http: {path: '/'}}, 'cluster.yaml: services/web/health/http/port: is required (add it; `berth cluster init` writes a commented example)'],
      [{http: {port: 70000}}, 'cluster.yaml: services/web/health/http/port: must be <= 65535 (The port inside the container (not the published host port), 1-65535.)'],
      [{http: {port: 80, path: 'healthz'}}, 'cluster.yaml: services/web/health/http/path: "healthz" is not valid (Write an absolute path without spaces, like /healthz (default /).)'],
      [{http: {port: 80, status: 99}}, 'cluster.yaml: services/web/health/http/status: must be >= 100 (The one status code that passes, 100-599 (default: any 2xx).)'],
      [{tcp: {port: 80}, interval: 0}, 'cluster.yaml: services/web/health/interval: must be >= 0.1 (Seconds between checks, 0.1-3600 (default 10).)'],
      [{tcp: {port: 80}, retries: 1.5}, 'cluster.yaml: services/web/health/retries: must be an integer (Consecutive failures that make a copy unhealthy, 1-100 (default 3).)'],
      [{exec: []}, 'cluster.yaml: services/web/health/exec: must NOT have fewer than 1 items (A command run in the container without a shell, one list item per argument; passes on exit 0.)'],
      [{exec: 'pg_isready'}, 'cluster.yaml: services/web/health/exec: must be an array (A command run in the container without a shell, one list item per argument; passes on exit 0.)'],
    ]
    for (const [health, line] of bad) assert.deepEqual(await problemLines({image: 'db', health}), [line], JSON.stringify(health))
  })

  it('takes autoUpgrade and a digest, and names the path and the fix for a pin given twice or a tag that is not there', async () => {
    const digest = `sha256:${'c'.repeat(64)}`
    assert.deepEqual((await validateServiceSpec({image: 'web:1', autoUpgrade: {pollSeconds: 30}, imageDigest: digest})).autoUpgrade, {pollSeconds: 30})
    assert.deepEqual(await problemLines({image: `web:1@${digest}`, imageDigest: digest, autoUpgrade: true}), [
      'cluster.yaml: services/web/imageDigest: is given with an image pinned by @digest already (keep one of the two: remove imageDigest, or the @digest from image)',
      `cluster.yaml: services/web/autoUpgrade: has no tag to follow: image "web:1@${digest}" is pinned by digest (write the image with its tag (web:1.2) and no @sha256:..., or remove autoUpgrade)`,
    ])
    assert.deepEqual(await problemLines({image: 'web:1', imageDigest: 'sha256:abc', autoUpgrade: {pollSeconds: 1}}), [
      "cluster.yaml: services/web/imageDigest: \"sha256:abc\" is not valid (The digest image's tag pointed at when the spec was stored (sha256:...): set by berth on every deploy and auto-upgrade; units run the image by it. Write it only to pin by hand.)",
      'cluster.yaml: services/web/autoUpgrade/pollSeconds: must be >= 5 (Seconds between lookups of the tag, 5-86400 (default 60); the registry\'s push notifications wake it sooner.)',
    ])
  })
})
