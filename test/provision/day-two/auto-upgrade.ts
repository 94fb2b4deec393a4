import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {writeFile} from 'node:fs/promises'
import path from 'node:path'

import {execa} from 'execa'

import {runImage} from '../../../src/images/reference.js'
import {resolveDigest} from '../../../src/images/digest.js'
import {done as ready, notYet, pollUntil, PollTimeout} from '../../../src/poll.js'
import {requireRecord, localDir} from '../../../src/local-cluster/record.js'
import type {ServiceSpec} from '../../../src/spec/service.js'
import {ok, type DayTwoCluster, type DayTwoPart} from './context.js'

const MACHINES = ['main-1', 'main-2', 'main-3']

/** Tags `image` as `ref` and pushes it from the host, or through a node when the host's dockerd refuses the registry's plain HTTP. */
async function push(c: DayTwoCluster, image: string, ref: string): Promise<void> {
  await execa('docker', ['tag', image, ref])
  try {
    const direct = await execa('docker', ['push', ref], {reject: false, all: true})
    if (direct.exitCode === 0) return
    await execa('docker', ['save', ref], {buffer: false}).pipe('docker', ['exec', '-i', c.container('main-1'), 'docker', 'load'])
    const viaNode = await execa('docker', ['exec', c.container('main-1'), 'docker', 'push', ref], {reject: false, all: true})
    assert.equal(viaNode.exitCode, 0, `docker push ${ref} from the host (${direct.all}) and through main-1 (${viaNode.all}) failed`)
  } finally {
    await execa('docker', ['image', 'rm', ref], {reject: false})
  }
}

/** Polls until `done` returns a value, or fails with what `seen` says it saw last. */
async function until<T>(what: string, done: () => Promise<T | undefined>, seen: () => Promise<string>, timeoutMs: number): Promise<T> {
  try {
    return await pollUntil(async () => {
      const value = await done()
      return value !== undefined ? ready(value) : notYet(undefined)
    }, {timeoutMs, intervalMs: 500, retryOn: () => false})
  } catch (error) {
    // What was seen is itself a question to the cluster, asked once, when the wait gives up.
    if (error instanceof PollTimeout) throw new assert.AssertionError({message: `${what} within ${timeoutMs / 1000} s; saw: ${await seen()}`})
    throw error
  }
}

/**
 * Auto-upgrade on the provision suite's cluster: `web` follows its tag (polling only every
 * 300 s, so only the registry's push notification can be in time); a new build pushed under
 * examples/web:1 is stored as web's digest by the leader, and every machine's container then
 * runs `examples/web@<new digest>`. Afterwards web is put back as it was and the tag moved back.
 */
export const autoUpgrade: DayTwoPart = {
  name: 'auto-upgrade',
  checks: [
    {
      title: 'a push under web\'s tag reaches every replica as the new digest, through the registry\'s notification',
      async run(c: DayTwoCluster) {
        const target = ['--local-cluster', c.name]
        const registry = (await requireRecord(localDir(c.name, c.dir), c.name)).registry.host
        const specOf = async (): Promise<ServiceSpec | undefined> => {
          const {services} = JSON.parse(ok(await c.berth(['service', 'ls', '--json', ...target]))) as {services: Array<{name: string; spec: ServiceSpec}>}
          return services.find((s) => s.name === 'web')?.spec
        }
        const original = await specOf()
        assert.ok(original, 'web is listed')
        assert.match(original.imageDigest ?? '', /^sha256:[0-9a-f]{64}$/, 'web was stored pinned')
        const file = path.join(c.dir, `auto-upgrade-${randomBytes(3).toString('hex')}.json`)
        const deployWith = async (spec: ServiceSpec): Promise<void> => {
          await writeFile(file, JSON.stringify({services: {web: spec}}))
          ok(await c.berth(['service', 'deploy', file, ...target]))
        }
        const tag = `${registry}/${original.image}`
        const build = `day-two-autoup:${randomBytes(3).toString('hex')}`
        try {
          await deployWith({...original, autoUpgrade: {pollSeconds: 300}})
          // A new build of the same image: only a label differs, so its manifest and digest do.
          await execa('docker', ['build', '-q', '-t', build, '--label', `berth.day-two=${build}`, '-'], {input: `FROM ${original.image}\n`, env: {DOCKER_BUILDKIT: '0'}})
          await push(c, build, tag)
          const moved = await resolveDigest(tag, {plainHttp: true})
          assert.notEqual(moved, original.imageDigest)

          const pushedAt = Date.now()
          await until('the leader stored web with the pushed digest', async () => ((await specOf())?.imageDigest === moved ? true : undefined), async () => JSON.stringify(await specOf()), 60_000)
          const stored = Date.now() - pushedAt
          const pinned = runImage({image: original.image, imageDigest: moved}, registry)
          const running = async (m: string): Promise<string> => (await execa('docker', ['exec', c.container(m), 'docker', 'inspect', '-f', '{{.Config.Image}} {{.State.Running}}', 'berth-web'], {reject: false})).stdout.trim()
          await until('every machine runs web by the new digest', async () => {
            const seen = await Promise.all(MACHINES.map(running))
            return seen.every((s) => s === `${pinned} true`) ? true : undefined
          }, async () => JSON.stringify(await Promise.all(MACHINES.map(running))), 120_000)
          process.stdout.write(`# auto-upgrade: push -> stored ${stored} ms, -> every replica on the new digest ${Date.now() - pushedAt} ms\n`)
          const {entries} = JSON.parse(ok(await c.berth(['audit', '--json', '--service', 'web', ...target]))) as {entries: Array<{action: string; detail?: Record<string, string>}>}
          assert.ok(entries.some((e) => e.action === 'service.auto-upgrade' && e.detail?.from === original.imageDigest && e.detail?.to === moved), JSON.stringify(entries.slice(-3)))
        } finally {
          // web as it was (pinned to its first digest, not following the tag), and the tag back on the first build.
          await deployWith(original)
          // web rolls back one machine at a time: the parts after this one (a node stopped) must find it whole.
          const history = async () => JSON.parse(ok(await c.berth(['service', 'history', 'web', '--json', ...target]))) as {revisions: Array<{hash: string; current: boolean}>; rollout?: {state: string; to: string}}
          const ended = (h: Awaited<ReturnType<typeof history>>): boolean => h.rollout?.to === h.revisions.find((r) => r.current)?.hash && !['running', 'rolling-back'].includes(h.rollout?.state ?? '')
          await until('web rolled back to its first digest', async () => (ended(await history()) ? true : undefined), async () => JSON.stringify((await history()).rollout), 180_000)
          await push(c, original.image, tag)
          await execa('docker', ['image', 'rm', '-f', build], {reject: false})
        }
      },
    },
  ],
}
