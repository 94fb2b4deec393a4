import assert from 'node:assert/strict'
import {mkdir, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {describe, it} from 'node:test'

import {parseCluster} from '../../src/config/load.js'
import {UsageError} from '../../src/errors.js'
import {buildArgs, buildHash} from '../../src/images/build.js'
import {nodeClusterFile} from '../../src/firstboot/cluster-json.js'
import {scratch} from '../support/cli.js'

const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGr8hCqB4d3K7y0l2tqKbz8sZrG9kD1w3dXh2uYx0f8Q test'

function doc(services: string): string {
  return `name: t\nregistry: {url: "10.0.0.2:5000"}\nssh: {authorizedKeys: ["${key}"]}\nmachines:\n  - {name: a, ip: 10.0.0.1, role: main}\nservices:\n${services}`
}

async function problems(file: string, text: string): Promise<string[]> {
  try {
    await parseCluster(text, file)
  } catch (error) {
    assert.ok(error instanceof UsageError, String(error))
    return error.problems.map((p) => `${p.path}: ${p.message} (${p.fix})`)
  }
  return []
}

/** A folder with cluster.yaml's place and a build context `web/` holding a Dockerfile. */
async function project(): Promise<{dir: string; file: string}> {
  const dir = await scratch('berth-build-config-')
  await mkdir(path.join(dir, 'web'))
  await writeFile(path.join(dir, 'web', 'Dockerfile'), 'FROM scratch\nCOPY page /page\n')
  await writeFile(path.join(dir, 'web', 'page'), 'hello\n')
  return {dir, file: path.join(dir, 'cluster.yaml')}
}

describe('build in cluster.yaml', () => {
  it('resolves build against cluster.yaml\'s folder and keeps it out of the services the nodes get', async () => {
    const {dir, file} = await project()
    const {cluster} = await parseCluster(doc('  web: {image: team/web, ports: ["8080:80"], build: {context: web, args: {GREETING: hi}}}\n'), file)
    assert.deepEqual(cluster.builds, {web: {repository: 'team/web', context: path.join(dir, 'web'), dockerfile: path.join(dir, 'web', 'Dockerfile'), args: {GREETING: 'hi'}}})
    assert.deepEqual(cluster.services.web, {image: 'team/web', ports: ['8080:80']})
    const {cluster: both} = await parseCluster(doc('  web: {image: team/web, build: {context: web}}\n  db: {image: "postgres:15"}\n'), file)
    assert.deepEqual(nodeClusterFile(both).services, {db: {image: 'postgres:15'}}, 'the installer seeds no service with build: its image comes with deploy')
  })

  it('reports a missing context, a missing Dockerfile, bad args and a hand-written tag, each with path and fix', async () => {
    const {file} = await project()
    const lines = await problems(file, doc([
      '  a: {image: team/a, build: {context: nowhere}}',
      '  b: {image: team/b, build: {context: web, dockerfile: web/Nope}}',
      '  c: {image: "team/c:1", build: {context: web, args: {"1BAD": x, GOOD: 3}}}',
      '  d: {image: "10.0.0.2:5000/team/d", build: {context: web, colour: red}}',
      '  e: {image: team/e, ports: ["99999:80"], build: {context: web}}',
    ].join('\n') + '\n'))
    const at = path.dirname(file)
    assert.deepEqual(lines, [
      'services/c/build/args/1BAD: is not a valid name (use lower-case letters, digits and dashes)',
      'services/c/build/args/GOOD: must be a string (A build argument\'s value: one line of text (quote numbers).)',
      'services/d/build/colour: unknown key (remove it; known keys here: context, dockerfile, args)',
      'services/e/ports/0: "99999:80" has port 99999, outside 1-65535 (ports are 1-65535 and addresses are IPv4, like 127.0.0.1:8080:80)',
      `services/a/build/context: ${at}/nowhere is not a folder (write the build context folder, relative to cluster.yaml)`,
      `services/b/build/dockerfile: ${at}/web/Nope does not exist (write the Dockerfile's path, relative to cluster.yaml)`,
      'services/c/image: "team/c:1" carries a tag or digest; with build berth tags the image by its content (write team/c)',
      'services/d/image: "10.0.0.2:5000/team/d" names a registry host; with build the image goes to the cluster\'s registry (write the repository alone, like team/d)',
    ])
  })

  it('a context without a Dockerfile points at the build, not at a dockerfile key nobody wrote', async () => {
    const {dir, file} = await project()
    await mkdir(path.join(dir, 'empty'))
    assert.deepEqual(await problems(file, doc('  a: {image: team/a, build: {context: empty}}\n')), [
      `services/a/build: ${dir}/empty/Dockerfile does not exist (add a Dockerfile to the context, or set build.dockerfile)`,
    ])
  })
})

describe('buildHash', () => {
  it('changes with a file of the context, the Dockerfile, an arg or the extra input, and with nothing else', async () => {
    const {dir} = await project()
    const context = path.join(dir, 'web')
    const dockerfile = path.join(context, 'Dockerfile')
    const first = await buildHash({context, dockerfile, args: {A: '1', B: '2'}})
    assert.match(first, /^[0-9a-f]{12}$/)
    assert.equal(await buildHash({context, dockerfile, args: {B: '2', A: '1'}}), first, 'the args\' order does not count')
    assert.notEqual(await buildHash({context, dockerfile, args: {A: '1', B: '3'}}), first)
    assert.notEqual(await buildHash({context, dockerfile, args: {A: '1', B: '2'}, extra: 'base-id'}), first)
    await writeFile(path.join(context, 'page'), 'changed\n')
    const changed = await buildHash({context, dockerfile, args: {A: '1', B: '2'}})
    assert.notEqual(changed, first)
    await writeFile(path.join(context, 'page'), 'hello\n')
    assert.equal(await buildHash({context, dockerfile, args: {A: '1', B: '2'}}), first, 'the same content hashes the same')
  })

  it('renders the docker build command line with the hash as a label', () => {
    assert.deepEqual(buildArgs({context: '/c', dockerfile: '/c/Dockerfile.prod', args: {BASE: 'b:1'}, repository: 'team/web', labels: {'berth.image': 'service'}}, 'team/web:0123456789ab', '0123456789ab'), [
      'build', '-q', '-f', '/c/Dockerfile.prod', '--build-arg', 'BASE=b:1', '--label', 'berth.image=service', '--label', 'berth.context=0123456789ab', '-t', 'team/web:0123456789ab', '/c',
    ])
  })
})
