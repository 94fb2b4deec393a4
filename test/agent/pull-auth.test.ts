import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {writeFile} from 'node:fs/promises'
import path from 'node:path'
import {after, describe, it} from 'node:test'

import Docker from 'dockerode'
import {execa} from 'execa'

import {applyPlan} from '../../src/agent/node/apply.js'
import {pullImage, realNodeOps, type NodeOps, type RegistryAuth} from '../../src/agent/node/node-ops.js'
import {validateServiceSpec} from '../../src/spec/service.js'
import {scratch} from '../support/cli.js'
import {freePort, until} from './store-support.js'

/**
 * A service's pull secret reaches dockerd, and only there: a real registry that wants
 * htpasswd auth, an image pushed to it, then the agent's pull without the auth (refused)
 * and with it (pulled); and apply opening the pull secret for the pull alone.
 */

const user = 'robot'
const password = 'qm-registry-pass'
// bcrypt of the password (cost 5), made once with Python's crypt: the registry accepts bcrypt only.
const htpasswd = `${user}:$2a$05$/qO.3QMl9Hotv292aaZ/GejvPQcSuh4RacqvAvujXsadoJ9dlI.AW\n`

/** A one-file root file system as a tar archive, so the image is a few KB. */
function tinyRootfs(text = 'quartermaster pull test\n'): Buffer {
  const body = Buffer.from(text)
  const header = Buffer.alloc(512)
  const field = (text: string, offset: number, length: number): void => void header.write(text.padEnd(length, '\0').slice(0, length), offset, 'latin1')
  field('hello.txt', 0, 100)
  field('0000644', 100, 8)
  field('0000000', 108, 8)
  field('0000000', 116, 8)
  field(body.length.toString(8).padStart(11, '0'), 124, 12)
  field('00000000000', 136, 12)
  field('        ', 148, 8)
  field('0', 156, 1)
  field('ustar', 257, 6)
  field('00', 263, 2)
  const sum = header.reduce((total, byte) => total + byte, 0)
  field(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8)
  const data = Buffer.alloc(512)
  body.copy(data)
  return Buffer.concat([header, data, Buffer.alloc(1024)])
}

async function followed(docker: Docker, stream: NodeJS.ReadableStream): Promise<void> {
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (error: Error | null, events: Array<{error?: string}>) => {
    const failed = events?.find((e) => e.error)?.error
    if (error || failed) reject(new Error(failed ?? error?.message))
    else resolve()
  }))
}

const dir = await scratch('berth-pull-auth-')
const port = await freePort()
const registry = `127.0.0.1:${port}`
await writeFile(path.join(dir, 'htpasswd'), htpasswd, {mode: 0o600})
await writeFile(path.join(dir, 'config.yml'), `version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: ${dir}/data
http:
  addr: ${registry}
auth:
  htpasswd:
    realm: berth-test
    path: ${dir}/htpasswd
`)
const server = execa('docker-registry', ['serve', path.join(dir, 'config.yml')], {reject: false, stdio: 'ignore'})
after(async () => {
  server.kill('SIGTERM')
  await server
})
await until(`the registry on ${registry} answers 401 on /v2/`, async () => (await fetch(`http://${registry}/v2/`).then((r) => r.status, () => 0)) === 401, 10_000)

const docker = new Docker()
const ref = `${registry}/private/tiny:${randomBytes(4).toString('hex')}`
const auth: RegistryAuth = {username: user, password, serveraddress: registry}
await execa('docker', ['import', '-', ref], {input: tinyRootfs()})
after(() => docker.getImage(ref).remove({force: true}).catch(() => undefined))
await followed(docker, await docker.getImage(ref).push({authconfig: auth}))
await docker.getImage(ref).remove({force: true})

describe('a pull secret reaches dockerd', () => {
  it('the agent\'s pull is refused without the auth and succeeds with it', async () => {
    const ops = realNodeOps()
    await assert.rejects(ops.ensureImage(ref), /cannot be pulled: .*(unauthorized|no basic auth credentials|authentication required)/i)
    await ops.ensureImage(ref, auth)
    assert.equal((await docker.getImage(ref).inspect()).RepoTags?.includes(ref), true)
  })

  it('a tag moved in the registry: ensureImage keeps the node\'s image, pullImage (the installer\'s) fetches the new one', async () => {
    const moving = `${registry}/private/moving:${randomBytes(4).toString('hex')}`
    const imported = async (text: string): Promise<string> => {
      await execa('docker', ['import', '-', moving], {input: tinyRootfs(text)})
      await followed(docker, await docker.getImage(moving).push({authconfig: auth}))
      return (await docker.getImage(moving).inspect()).Id
    }
    const old = await imported('first\n')
    const moved = await imported('second\n')
    after(() => Promise.all([old, moved].map((id) => docker.getImage(id).remove({force: true}).catch(() => undefined))))
    assert.notEqual(old, moved)
    // The node still has the first image under the tag; the registry has the second.
    await execa('docker', ['tag', old, moving])
    await realNodeOps().ensureImage(moving, auth)
    assert.equal((await docker.getImage(moving).inspect()).Id, old, 'ensureImage pulls only what is absent')
    await assert.rejects(pullImage(docker, moving), /image .*moving.* cannot be pulled: .*(unauthorized|no basic auth credentials|authentication required)/i)
    await pullImage(docker, moving, auth)
    assert.equal((await docker.getImage(moving).inspect()).Id, moved, 'pullImage fetched the tag\'s new image')
  })

  it('apply opens the service\'s pull secret for the pull alone: not in the env file, not for other services', async () => {
    const seen: Array<[string, RegistryAuth | undefined]> = []
    const ops: NodeOps = {
      unitStates: async () => new Map(),
      systemctl: async () => undefined,
      containers: async () => [],
      removeContainer: async () => undefined,
      ensureImage: async (image, given) => void seen.push([image, given]),
    }
    const opened: string[][] = []
    const desired = new Map([
      ['private', await validateServiceSpec({image: ref, pullSecret: 'pull_auth_private', mode: 'replicated', replicas: 1})],
      ['open', await validateServiceSpec({image: 'web:1'})],
    ])
    const envFileDir = path.join(dir, 'env')
    const result = await applyPlan([
      {kind: 'start', service: 'private', unit: 'berth-private.service'},
      {kind: 'start', service: 'open', unit: 'berth-open.service'},
    ], {ops, prefix: 'berth-', unitDir: path.join(dir, 'units'), envFileDir, desired, openSecrets: async (names) => {
      opened.push([...names])
      return new Map(names.map((n) => [n, JSON.stringify(auth)]))
    }})
    assert.deepEqual([...result.outcomes].map(([name, o]) => [name, o.ok]), [['private', true], ['open', true]])
    // The two starts go at once (applyPlan), so the pulls are compared as a set.
    assert.deepEqual(new Map(seen), new Map<string, unknown>([[ref, auth], ['web:1', undefined]]))
    assert.deepEqual(opened, [['pull_auth_private']])
    // The env files are empty: the auth is not an env var (the label files hold only the hash).
    const fs = await import('node:fs/promises')
    for (const service of ['private', 'open']) assert.equal(await fs.readFile(path.join(envFileDir, `berth-${service}.env`), 'utf8'), '')
    for (const file of await fs.readdir(envFileDir)) assert.ok(!(await fs.readFile(path.join(envFileDir, file), 'utf8')).includes(password), `${file} holds the pull password`)
  })

  it('a pull secret that is not a JSON auth object fails that service, naming the secret only', async () => {
    const ops: NodeOps = {unitStates: async () => new Map(), systemctl: async () => undefined, containers: async () => [], removeContainer: async () => undefined, ensureImage: async () => undefined}
    const desired = new Map([['private', await validateServiceSpec({image: ref, pullSecret: 'pull_auth_private'})]])
    const result = await applyPlan([{kind: 'start', service: 'private', unit: 'berth-private.service'}], {
      ops, prefix: 'berth-', unitDir: path.join(dir, 'units'), envFileDir: path.join(dir, 'env'), desired, openSecrets: async () => new Map([['pull_auth_private', 'not-json-s3cr3t']]),
    })
    const outcome = result.outcomes.get('private')
    assert.equal(outcome?.ok, false)
    assert.match(outcome?.error ?? '', /pull secret pull_auth_private is not a JSON Docker auth object/)
    assert.ok(!(outcome?.error ?? '').includes('s3cr3t'))
  })
})
