import assert from 'node:assert/strict'
import {readFile, writeFile, copyFile, stat, mkdir} from 'node:fs/promises'
import path from 'node:path'
import {describe, it} from 'node:test'

import {parseCluster} from '../../src/config/load.js'
import {UsageError} from '../../src/errors.js'
import {CONSTRAINT_GRAMMAR} from '../../src/spec/constraint.js'
import {shipped} from '../../src/paths.js'
import {berth, scratch} from '../support/cli.js'
import {fixture} from '../support/fixture.js'
import {generateEd25519} from '../../src/ssh/keygen.js'

const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGr8hCqB4d3K7y0l2tqKbz8sZrG9kD1w3dXh2uYx0f8Q test'

function doc(machines: string, extra = ''): string {
  return `name: t\nregistry: {url: "10.0.0.2:5000"}\nssh: {authorizedKeys: ["${key}"]}\n${extra}machines:\n${machines}`
}

async function problems(text: string): Promise<string[]> {
  try {
    await parseCluster(text, 'c.yaml')
  } catch (error) {
    assert.ok(error instanceof UsageError, String(error))
    assert.equal(error.exitCode, 2)
    return error.message.split('\n')
  }
  return []
}

describe('cluster.yaml validation', () => {
  it('accepts the shipped example and the fixture', async () => {
    const dir = await scratch()
    await copyFile(shipped('schema', 'cluster.example.yaml'), path.join(dir, 'cluster.yaml'))
    await copyFile(fixture('provisioner.pub'), path.join(dir, 'provisioner.pub'))
    const result = await berth(['cluster', 'validate', '-c', path.join(dir, 'cluster.yaml'), '--json'])
    assert.equal(result.exitCode, 0, result.stderr)
    assert.deepEqual(JSON.parse(result.stdout), {file: path.join(dir, 'cluster.yaml'), name: 'demo', machines: 4, mains: 3, warnings: []})
    assert.deepEqual(await problems(await readFile(fixture('cluster.yaml'), 'utf8').then((t) => t.replace('[provisioner.pub]', `["${fixture('provisioner.pub')}"]`))), [])
  })

  it('reports every problem at once, each with file, path and fix', async () => {
    const lines = await problems(doc('  - {name: a, ip: 10.0.0.300, role: main, colour: red}\n  - {name: a, ip: 10.0.0.300, role: boss}\n', 'unitPrefix: "Bad Prefix"\n'))
    assert.deepEqual(lines, [
      'c.yaml: unitPrefix: "Bad Prefix" is not valid (Prefix of every systemd unit and container berth manages (default berth-).)',
      'c.yaml: machines/0/colour: unknown key (remove it; known keys here: name, ip, role, labels)',
      'c.yaml: machines/1/role: "boss" is not allowed (use one of: main, worker, data)',
      'c.yaml: machines/0/ip: "10.0.0.300" is not an IPv4 address (write four numbers 0-255 separated by dots)',
      'c.yaml: machines/1/ip: "10.0.0.300" is not an IPv4 address (write four numbers 0-255 separated by dots)',
      'c.yaml: machines/1/name: a is already the name of machines/0 (give every machine its own name)',
      'c.yaml: machines/1/ip: 10.0.0.300 is already the address of machines/0 (give every machine its own address)',
    ])
  })

  it('names line and column of a YAML syntax error', async () => {
    assert.deepEqual(await problems('name: t\nmachines: [\n'), ['c.yaml:3:1: Flow sequence in block collection must be sufficiently indented and end with a ] (fix the YAML syntax)'])
    assert.deepEqual(await problems('name: t\nname: u\n'), ['c.yaml:2:1: Map keys must be unique (fix the YAML syntax)'])
  })

  it('reports what only js-yaml rejects with its line and column (yaml would read an unknown tag and an empty key)', async () => {
    assert.deepEqual(await problems('name: t\nregistry: !local {url: "10.0.0.2:5000"}\n'), ['c.yaml:2:40: unknown tag !<!local> (fix the YAML syntax)'])
    assert.deepEqual(await problems('name: t\n: orphan\n'), ['c.yaml:2:1: incomplete explicit mapping pair; a key node is missed; or followed by a non-tabulated empty line (fix the YAML syntax)'])
  })

  it('reads YAML 1.2 scalars as the yaml package does (the fast reader is js-yaml)', async () => {
    // Labels are strings to the schema, so a scalar read as anything else is reported.
    const labels = ['yes', 'on', 'No', '0o17', '017', '2024-01-01', '.5', '~', '"<<"', "'1e3'"]
    const text = doc(`  - {name: a, ip: 10.0.0.1, role: main, labels: {${labels.map((v, i) => `k${i}: ${v}`).join(', ')}}}\n`)
    const {parse} = await import('yaml')
    const strings = Object.entries((parse(text) as {machines: [{labels: Record<string, unknown>}]}).machines[0].labels).filter(([, v]) => typeof v === 'string').map(([k]) => k)
    const lines = await problems(text)
    const rejected = lines.map((l) => /labels\/(k\d+)/.exec(l)?.[1]).filter(Boolean)
    assert.deepEqual(rejected.sort(), labels.map((_, i) => `k${i}`).filter((k) => !strings.includes(k)).sort())
    assert.ok(rejected.length >= 3, `numbers and null are not strings: ${lines.join(' | ')}`)
  })

  it('takes 1 to 9 main machines and warns on an even count', async () => {
    const mains = (n: number) => Array.from({length: n}, (_, i) => `  - {name: m${i}, ip: 10.0.0.${i + 1}, role: main}\n`).join('')
    assert.deepEqual(await problems(doc(mains(10))), ['c.yaml: machines: 10 machines have role main; etcd takes at most 9 members (make the others role: worker)'])
    assert.deepEqual(await problems(doc('  - {name: w, ip: 10.0.0.1, role: worker}\n')), ['c.yaml: machines: no machine has role main, so there is no etcd member (give 1, 3 or 5 machines role: main)'])
    const {warnings} = await parseCluster(doc(mains(4)), 'c.yaml')
    assert.deepEqual(warnings, ['c.yaml: machines: 4 main machines tolerate no more failures than 3; an odd count is better'])
  })

  it('rejects service names that are not valid unit and container names', async () => {
    const lines = await problems(doc('  - {name: m, ip: 10.0.0.1, role: main}\n', 'services:\n  "Web..x": {image: "a:1"}\n  ok: {image: "a:1", bogus: 1}\n'))
    assert.deepEqual(lines, [
      'c.yaml: services/Web..x: is not a valid name (use lower-case letters, digits and dashes)',
      'c.yaml: services/ok/bogus: unknown key (remove it; known keys here: image, command, env, secrets, ports, volumes, mounts, user, capabilities, pullSecret, memory, readOnly, labels, stopTimeout, restart, roles, mode, replicas, placement, resources, health, update, imageDigest, autoUpgrade)',
    ])
  })

  it('checks every service by the agent\'s rules: a bad port and a berth. label fail cluster validate (exit 2), a good service passes', async () => {
    const dir = await scratch()
    const file = path.join(dir, 'cluster.yaml')
    const services = 'services:\n  web: {image: "web:1", ports: ["99999:80"]}\n  api: {image: "api:1", labels: {berth.service: forged}}\n  agent: {image: "a:1"}\n'
    await writeFile(file, doc('  - {name: m, ip: 10.0.0.1, role: main}\n', services))
    const bad = await berth(['cluster', 'validate', '-c', file])
    assert.equal(bad.exitCode, 2, bad.stderr)
    assert.deepEqual(bad.stderr.trim().split('\n'), [
      `berth: ${file}: services/agent: agent is the name of berth's own unit (choose another service name)`,
      `berth: ${file}: services/api/labels/berth.service: uses the reserved berth. prefix (berth sets these labels itself; choose another key)`,
      `berth: ${file}: services/web/ports/0: "99999:80" has port 99999, outside 1-65535 (ports are 1-65535 and addresses are IPv4, like 127.0.0.1:8080:80)`,
    ])
    await writeFile(file, doc('  - {name: m, ip: 10.0.0.1, role: main}\n', 'services:\n  web: {image: "web:1", ports: ["8080:80"], labels: {team: shop}}\n'))
    const good = await berth(['cluster', 'validate', '-c', file, '--json'])
    assert.equal(good.exitCode, 0, good.stderr)
    assert.equal(JSON.parse(good.stdout).name, 't')
  })

  it('validates replicas, placement and resources of services, and machine labels (cluster validate, exit 2 with path and fix)', async () => {
    const dir = await scratch()
    const file = path.join(dir, 'cluster.yaml')
    const machines = '  - {name: main-1, ip: 10.0.0.1, role: main, labels: {zone: eu-1}}\n  - {name: worker-1, ip: 10.0.0.2, role: worker, labels: {zone: eu-2, disk: ssd}}\n'
    const good = [
      'services:',
      '  web:',
      '    image: "web:1"',
      '    replicas: 2',
      '    memory: 512m',
      '    placement: {constraints: ["labels.disk in (ssd, nvme)", "name != main-1", "labels.gpu == yes", "name == nowhere"], spread: zone, maxPerMachine: 1}',
      '    resources: {memory: 256m, cpus: 0.5}',
      '  logs: {image: "logs:1", mode: global, placement: {roles: [worker]}}',
      '  old: {image: "old:1", roles: [main]}',
      '',
    ].join('\n')
    await writeFile(file, doc(machines, good))
    const accepted = await berth(['cluster', 'validate', '-c', file, '--json'])
    assert.equal(accepted.exitCode, 0, accepted.stderr)
    assert.deepEqual(JSON.parse(accepted.stdout).warnings, [
      `${file}: services/web/placement/constraints/2: no machine has label gpu`,
      `${file}: services/web/placement/constraints/3: no machine is named nowhere`,
    ])
    const bad = 'services:\n  web: {image: "web:1", mode: global, replicas: 3, roles: [main], placement: {roles: [worker], constraints: ["zone == eu-1"]}}\n'
    await writeFile(file, doc('  - {name: main-1, ip: 10.0.0.1, role: main, labels: {"bad key": x, zone: [eu]}}\n', bad))
    const refused = await berth(['cluster', 'validate', '-c', file])
    assert.equal(refused.exitCode, 2, refused.stderr)
    assert.deepEqual(refused.stderr.trim().split('\n'), [
      `berth: ${file}: machines/0/labels/bad key: is not a valid name (write a label key of letters, digits, dots, dashes, underscores and slashes, like zone)`,
      `berth: ${file}: machines/0/labels/zone: must be a string (A label value, one line.)`,
      `berth: ${file}: services/web/replicas: is set with mode: global, which runs one copy on every eligible machine (remove replicas, or write mode: replicated)`,
      `berth: ${file}: services/web/placement/roles: is given with the top-level roles too (keep one of the two: roles is a shorthand of placement.roles)`,
      `berth: ${file}: services/web/placement/constraints/0: "zone == eu-1": "zone" is neither name nor labels.KEY (${CONSTRAINT_GRAMMAR})`,
    ])
  })

  it('reports a service\'s schema problem once, though both the cluster schema and the agent\'s check find it', async () => {
    const lines = await problems(doc('  - {name: m, ip: 10.0.0.1, role: main}\n', 'services:\n  web: {ports: ["99999:80"]}\n'))
    assert.deepEqual(lines, ['c.yaml: services/web/image: is required (add it; `berth cluster init` writes a commented example)'])
  })

  it('rejects a private key or an unreadable file given as the SSH key', async () => {
    const dir = await scratch()
    // A real private key, made here, where the public one belongs.
    const privateKey = generateEd25519().private
    await writeFile(path.join(dir, 'id'), privateKey)
    const text = `name: t\nregistry: {url: r}\nssh: {authorizedKeyFiles: [id, nope.pub]}\nmachines:\n  - {name: m, ip: 10.0.0.1, role: main}\n`
    await writeFile(path.join(dir, 'c.yaml'), text)
    const result = await berth(['cluster', 'validate', '-c', path.join(dir, 'c.yaml')])
    assert.equal(result.exitCode, 2)
    const file = path.join(dir, 'c.yaml')
    assert.deepEqual(result.stderr.trim().split('\n'), [
      `berth: ${file}: ssh/authorizedKeyFiles/0: id does not hold OpenSSH public keys only (use the .pub file, never the private key)`,
      `berth: ${file}: ssh/authorizedKeyFiles/1: cannot read nope.pub (ENOENT) (point it at a readable public key file)`,
    ])
    assert.ok(!result.stderr.includes(privateKey.split('\n')[3]!), 'the key file\'s content is never echoed')
  })
})

describe('new-cloud-config on bad input: exit 2, one line per problem, nothing written', () => {
  it('bad IPs in the quick form, a missing key, an unwritable --out', async () => {
    const dir = await scratch()
    const out = path.join(dir, 'out')
    const env = {BERTH_STATE_DIR: path.join(dir, 'state')}
    const bad = await berth(['cluster', 'new-cloud-config', '10.0.0.1', '10.0.0.1', '300.1.1.1', '--registry', 'r:5000', '--ssh-key', fixture('provisioner.pub'), '-o', out], {env})
    assert.equal(bad.exitCode, 2)
    assert.deepEqual(bad.stderr.trim().split('\n'), [
      'berth: machines/1/ip: 10.0.0.1 is already the address of machines/0 (give every machine its own address)',
      'berth: machines/2/ip: "300.1.1.1" is not an IPv4 address (write four numbers 0-255 separated by dots)',
    ])
    const noKey = await berth(['cluster', 'new-cloud-config', '10.0.0.1', '--registry', 'r:5000', '--ssh-key', path.join(dir, 'missing.pub'), '-o', out], {env})
    assert.equal(noKey.exitCode, 2)
    assert.match(noKey.stderr, /--ssh-key: cannot read .*missing\.pub \(ENOENT\)/)
    await stat(out).then(() => assert.fail('no output folder after a failure'), () => undefined)

    await writeFile(path.join(dir, 'plain-file'), 'x')
    const unwritable = await berth(['cluster', 'new-cloud-config', '10.0.0.1', '--registry', 'r:5000', '--ssh-key', fixture('provisioner.pub'), '-o', path.join(dir, 'plain-file', 'out')], {env})
    assert.equal(unwritable.exitCode, 2)
    assert.match(unwritable.stderr, /^berth: --out .*plain-file\/out: cannot write there \(part of the path is a file\) \(choose a folder you can write to\)$/m)
  })

  it('a failed run leaves an earlier output folder as it was', async () => {
    const dir = await scratch()
    const out = path.join(dir, 'out')
    const env = {BERTH_STATE_DIR: path.join(dir, 'state')}
    const good = await berth(['cluster', 'new-cloud-config', '10.0.0.1', '--registry', 'r:5000', '--ssh-key', fixture('provisioner.pub'), '-o', out], {env})
    assert.equal(good.exitCode, 0, good.stderr)
    const before = await readFile(path.join(out, 'main-1.yaml'), 'utf8')
    const bad = await berth(['cluster', 'new-cloud-config', '10.0.0.1', '10.0.0.2', '--registry', 'bad registry', '--ssh-key', fixture('provisioner.pub'), '-o', out], {env})
    assert.equal(bad.exitCode, 2)
    assert.equal(await readFile(path.join(out, 'main-1.yaml'), 'utf8'), before)
  })

  it('unknown flags and bad options are usage errors (exit 2)', async () => {
    assert.equal((await berth(['cluster', 'new-cloud-config', '--bogus'])).exitCode, 2)
    assert.equal((await berth(['cluster', 'new-cloud-config', '--format', 'xml'])).exitCode, 2)
    const dir = await scratch()
    await mkdir(path.join(dir, 'x'))
    const missing = await berth(['cluster', 'validate', '-c', path.join(dir, 'x', 'none.yaml')])
    assert.equal(missing.exitCode, 2)
    assert.match(missing.stderr, /none\.yaml: cannot read it \(ENOENT\) \(create one with `berth cluster init`\)/)
  })
})
