import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {copyFile, mkdir, readFile, symlink, writeFile} from 'node:fs/promises'
import path from 'node:path'

import {execa} from 'execa'

import {ensureBaseImage} from '../../../src/images/base.js'
import {localDir} from '../../../src/local-cluster/record.js'
import {ok, type DayTwoCluster, type DayTwoPart} from './context.js'


type Deployed = {
  ok: boolean
  images: Array<{service: string; tag: string; built: boolean; pushed: boolean}>
  services: Array<{service: string; image: string; changed: boolean; outcome: string; machines?: Array<{machine: string; ok: boolean}>}>
}

/**
 * A copy of the local cluster's cluster.yaml with a service that carries build, and a
 * state root whose clusters/<name> is the local cluster's state: `-c` and `--state-dir`
 * then reach the cluster as `--local-cluster` would.
 */
async function project(c: DayTwoCluster, service: string): Promise<string[]> {
  const local = localDir(c.name, c.dir)
  const dir = path.join(c.dir, `deploy-${randomBytes(3).toString('hex')}`)
  await mkdir(path.join(dir, 'app'), {recursive: true})
  await mkdir(path.join(dir, 'state', 'clusters'), {recursive: true})
  await symlink(path.join(local, 'state'), path.join(dir, 'state', 'clusters', c.name))
  await copyFile(path.join(local, 'id_ed25519.pub'), path.join(dir, 'id_ed25519.pub'))
  const base = await ensureBaseImage({pullTimeoutMs: 0})
  await writeFile(path.join(dir, 'app', 'Dockerfile'), 'ARG BASE\nFROM ${BASE}\nCOPY hello /hello\nCMD ["sleep", "infinity"]\n')
  await writeFile(path.join(dir, 'app', 'hello'), `${service}\n`)
  const yaml = await readFile(path.join(local, 'cluster.yaml'), 'utf8')
  const built = `  ${service}: {image: day-two/${service}, stopTimeout: 2, build: {context: app, args: {BASE: "${base.ref}"}}}\n`
  const file = path.join(dir, 'cluster.yaml')
  await writeFile(file, /^services:/m.test(yaml) ? yaml.replace(/^services:\n/m, `services:\n${built}`) : `${yaml}services:\n${built}`)
  return ['-c', file, '--state-dir', path.join(dir, 'state')]
}

/** `berth deploy` of a service with build in cluster.yaml: built, pushed, active everywhere; again, nothing. */
export const deploy: DayTwoPart = {
  name: 'deploy',
  checks: [
    {
      title: 'deploy builds, pushes and rolls out a service with build; a second deploy builds and changes nothing',
      async run(c: DayTwoCluster) {
        const service = `built-${randomBytes(2).toString('hex')}`
        const target = await project(c, service)
        let tag = ''
        try {
          const first = JSON.parse(ok(await c.berth(['deploy', service, '--json', '--timeout', '180', ...target]))) as Deployed
          const image = first.images.find((i) => i.service === service)
          assert.ok(image?.built && image.pushed, JSON.stringify(first))
          tag = image.tag
          assert.match(image.tag, new RegExp(`^day-two/${service}:[0-9a-f]{12}$`))
          const outcome = first.services.find((s) => s.service === service)
          assert.deepEqual([outcome?.changed, outcome?.outcome, outcome?.image], [true, 'active', image.tag], JSON.stringify(first))
          // A global service: active on every machine, and its rollout (none for a new service: every copy named at its hash) done.
          assert.deepEqual(outcome?.machines?.map((m) => [m.machine, m.ok]), [['main-1', true], ['main-2', true], ['main-3', true], ['(rollout)', true]])
          const listed = JSON.parse(ok(await c.berth(['service', 'ls', '--json', '--local-cluster', c.name]))) as {services: Array<{name: string; spec: Record<string, unknown>}>}
          const stored = listed.services.find((s) => s.name === service)?.spec
          assert.equal(stored?.image, image.tag)
          assert.equal('build' in (stored ?? {}), false, 'build never reaches the stored spec')
          const hello = await execa('docker', ['exec', c.container('main-2'), 'docker', 'exec', `berth-${service}`, 'cat', '/hello'], {reject: false, all: true})
          assert.equal(hello.stdout.trim(), service, hello.all)

          const second = JSON.parse(ok(await c.berth(['deploy', service, '--json', ...target]))) as Deployed
          assert.deepEqual(second.images, [{...image, built: false, pushed: false}])
          assert.deepEqual(second.services, [{service, image: image.tag, changed: false, outcome: 'unchanged'}])
        } finally {
          ok(await c.berth(['service', 'rm', service, '--local-cluster', c.name]))
          if (tag) await execa('docker', ['image', 'rm', '-f', tag], {reject: false})
        }
      },
    },
  ],
}
