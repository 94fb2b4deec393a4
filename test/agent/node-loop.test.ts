/**
 * The agent's loop on a real node, where loop.test.ts uses a fake one: a one-node local
 * cluster (systemd and dockerd in a node container), desired state in the node's etcd, the
 * loop run on this host with the agent's real NodeOps reaching the node (node-reach.ts), so
 * a pass can be killed or held at an exact step while systemd and dockerd do the work. Each
 * test has its own unit prefix and etcd prefix on the one node this file boots.
 */
import assert from 'node:assert/strict'
import {readFile, writeFile} from 'node:fs/promises'
import {after, before, describe, it} from 'node:test'
import {fileURLToPath} from 'node:url'
import {execa} from 'execa'

import type {NodeOps} from '../../src/agent/node/node-ops.js'
import {renderUnit} from '../../src/agent/plan/unit.js'
import {envFilePath, labelFilePath, renderLabelFile} from '../../src/agent/plan/docker-run.js'
import type {Agent} from '../../src/agent/wiring/runtime.js'
import {validateServiceSpec, type ServiceSpec} from '../../src/spec/service.js'
import {agentFor, nodeAt, reachNode, sharedFileDir, type LoopPlace, type NodeAt} from './node-reach.js'
import {startNode, waitUntil, WEB_IMAGE, type TestNode} from './node-support.js'
import {recordPasses} from './pass-record.js'

let node: TestNode
let at: NodeAt

/** A shell command on the node through `docker exec`; fails with its stderr. */
async function onNode(command: string): Promise<string> {
  return (await execa('docker', ['exec', node.nodeId, 'sh', '-c', command])).stdout
}

/** The test service at a version, told apart by a label, which is on the `docker run` line (an env change would not rewrite the unit). */
function version(v: string): Promise<ServiceSpec> {
  return validateServiceSpec({image: WEB_IMAGE, command: ['httpd', '-f', '-p', '8080'], labels: {version: v}, stopTimeout: 2})
}

/** berth's containers on the node whose name has `prefix`: `name hash state`, sorted. */
async function containers(prefix: string): Promise<string[]> {
  const out = await onNode(`docker ps -a --filter label=berth.managed=true --format '{{.Names}} {{.Label "berth.spec-hash"}} {{.State}}'`)
  return out.split('\n').filter((line) => line.startsWith(prefix)).sort()
}

/** What `containers` should list: each service running its spec's hash. */
function running(agent: Agent, specs: Record<string, ServiceSpec>): string[] {
  const {prefix, render} = agent.loop.deps
  return Object.entries(specs).map(([name, spec]) => `${prefix}${name} ${render(prefix, name, spec).specHash} running`).sort()
}

async function activeStates(agent: Agent, services: string[]): Promise<string[]> {
  const states = await agent.loop.deps.ops.unitStates(services.map((s) => `${agent.loop.deps.prefix}${s}.service`))
  return [...states.values()].map((s) => s.activeState)
}

/** Puts each spec into the agent's store. */
async function put(agent: Agent, specs: Record<string, ServiceSpec>): Promise<void> {
  for (const [name, spec] of Object.entries(specs)) await agent.store.putService(name, spec)
}

/** Runs node-loop-child.js's pass and SIGKILLs it at its first start; returns the step it was at. */
async function killAtFirstStart(place: LoopPlace): Promise<string> {
  const child = execa('node', [fileURLToPath(new URL('node-loop-child.js', import.meta.url)), JSON.stringify([at, place])], {reject: false, buffer: false})
  const step = await new Promise<string>((resolve, reject) => {
    let seen = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      seen += chunk.toString()
      const line = /^at (.*)$/m.exec(seen)
      if (line) resolve(line[1]!)
    })
    void child.then((result) => reject(new Error(`the child's pass ended before any start (exit ${result.exitCode}): ${seen}${result.stderr ?? ''}`)))
  })
  child.kill('SIGKILL')
  assert.equal((await child).signal, 'SIGKILL')
  return step
}

describe("the agent's loop on a real node", {timeout: 10 * 60_000}, () => {
  before(async () => {
    node = await startNode('agent-loop')
    at = await nodeAt(node.ip, node.nodeId)
  })
  after(async () => {
    await node?.destroy()
  })

  it('completes a pass SIGKILLed between its unit writes and its starts: every unit active on its spec, one container each', async () => {
    const place = {unitPrefix: 'rtk-', storePrefix: '/rtk'}
    const first = agentFor(at, place)
    const v1 = {a: await version('1'), b: await version('1')}
    await put(first, v1)
    assert.equal((await first.loop.pass()).converged, true)
    await waitUntil(async () => (await containers('rtk-')).join() === running(first, v1).join(), 30_000, 'a and b run version 1')
    const v2 = {a: await version('2'), b: await version('2'), c: await version('1')}
    await put(first, v2)
    await first.close()

    assert.match(await killAtFirstStart(place), /^(start|restart) rtk-[abc]\.service$/)
    // Killed after the pass wrote every unit and reloaded systemd, before it started any.
    for (const [name, spec] of Object.entries(v2)) {
      assert.equal(await readFile(`${at.root}/etc/systemd/system/rtk-${name}.service`, 'utf8'), renderUnit('rtk-', name, spec, {envFileDir: sharedFileDir(at)}).content, `rtk-${name}.service as the killed pass wrote it`)
    }
    const seen = await reachNode(at).unitStates(['rtk-a.service', 'rtk-b.service', 'rtk-c.service'])
    assert.deepEqual([...seen.values()].map((s) => [s.activeState, s.needsReload]), [['active', false], ['active', false], ['inactive', false]])
    assert.deepEqual(await containers('rtk-'), running(first, v1), 'a and b still run version 1, c does not run')

    const next = agentFor(at, place)
    try {
      const report = await next.loop.pass()
      // systemd loaded the rewritten units before the kill, and loads the new one on its start: no reload.
      assert.deepEqual(report.actions, ['restart rtk-a.service', 'restart rtk-b.service', 'start rtk-c.service'])
      assert.equal(report.converged, true, JSON.stringify(report))
      await waitUntil(async () => (await containers('rtk-')).join() === running(next, v2).join(), 30_000, 'a and b run version 2 and c version 1, one container each')
      assert.deepEqual(await activeStates(next, ['a', 'b', 'c']), ['active', 'active', 'active'])
      assert.deepEqual((await next.loop.pass()).actions, [])
    } finally {
      await next.close()
    }
  })

  it("removes a prefixed unit and a marked container no spec names, and leaves an unprefixed unit and an unmarked container alone", async () => {
    const place = {unitPrefix: 'rto-', storePrefix: '/rto'}
    const agent = agentFor(at, place)
    const spec = await version('1')
    try {
      await put(agent, {keep: spec})
      // What a service deleted while the agent was down leaves: its unit, running its container.
      const files = {envFileDir: sharedFileDir(at)}
      const stray = renderUnit('rto-', 'stray', spec, files)
      // berth's kind of unit and container, but another prefix: another agent's, or the system's.
      const foreign = renderUnit('other-', 'keep', spec, files)
      for (const [prefix, unit] of [['rto-', stray], ['other-', foreign]] as const) {
        await writeFile(`${at.root}/etc/systemd/system/${unit.name}`, unit.content)
        // The files its docker run names, as that unit's agent would have written them.
        const name = prefix === 'rto-' ? 'stray' : 'keep'
        await writeFile(`${at.root}${envFilePath(prefix, name, files)}`, '', {mode: 0o600})
        await writeFile(`${at.root}${labelFilePath(prefix, name, files)}`, renderLabelFile(unit.specHash), {mode: 0o600})
      }
      await onNode('systemctl daemon-reload && systemctl start rto-stray.service other-keep.service')
      // A marked container no unit owns (as a crash can leave), and one with the prefix but no marker.
      const lost = await onNode(`docker run -d --init --name rto-lost --label berth.managed=true --label berth.service=lost ${WEB_IMAGE} httpd -f -p 8080`)
      const unmarked = await onNode(`docker run -d --init --name rto-unmarked ${WEB_IMAGE} httpd -f -p 8080`)
      const four = ['other-keep', 'rto-lost', 'rto-stray', 'rto-unmarked']
      await waitUntil(async () => {
        const names = (await onNode("docker ps --format '{{.Names}}'")).split('\n')
        return four.every((name) => names.includes(name))
      }, 30_000, 'the four containers run')
      const foreignId = (await onNode('docker inspect --format {{.Id}} other-keep')).trim()

      const report = await agent.loop.pass()
      assert.deepEqual(report.actions, ['stop rto-stray.service', 'removeUnit rto-stray.service', 'writeUnit rto-keep.service', 'daemon-reload', 'start rto-keep.service', `removeContainer rto-lost ${lost.trim().slice(0, 12)}`])
      assert.equal(report.converged, true, JSON.stringify(report))
      await waitUntil(async () => (await containers('rto-')).join() === running(agent, {keep: spec}).join(), 30_000, 'only rto-keep of berth\'s rto- containers is left')
      assert.equal((await execa('docker', ['exec', node.nodeId, 'test', '-e', '/etc/systemd/system/rto-stray.service'], {reject: false})).exitCode, 1)
      assert.equal((await onNode('systemctl show -p LoadState --value rto-stray.service')).trim(), 'not-found')

      assert.equal((await onNode('systemctl is-active other-keep.service')).trim(), 'active')
      assert.equal((await onNode("docker inspect --format '{{.Id}} {{.State.Status}}' other-keep rto-unmarked")).trim(), `${foreignId} running\n${unmarked.trim()} running`)
      assert.deepEqual((await agent.loop.pass()).actions, [])
    } finally {
      await agent.close()
      await onNode('systemctl stop other-keep.service; rm -f /etc/systemd/system/other-keep.service; docker rm -f rto-unmarked; systemctl daemon-reload')
    }
  })

  it('ends changes that arrive during a pass in one more pass, which runs the last spec: two restarts for five changes', async () => {
    const place = {unitPrefix: 'rtc-', storePrefix: '/rtc'}
    const hold = holdNextRestart(reachNode(at), 'rtc-coal.service')
    const agent = agentFor(at, place, hold.ops)
    // The follow-up check the loop makes 3 s after a start would be one more pass in the
    // window counted below; put past it, every pass in the window is one the changes caused.
    agent.loop.deps.checkMs = 600_000
    // Counted where the loop hears them: every watch callback, every pass's report.
    let heard = 0
    const watch = agent.store.watch.bind(agent.store)
    agent.store.watch = (onChange) => watch(() => {
      heard++
      onChange()
    })
    const reports = recordPasses(agent.loop)
    try {
      const specs = await Promise.all(['0', '1', '2', '3', '4', '5'].map(version))
      await put(agent, {coal: specs[0]!})
      await agent.loop.start()
      await waitUntil(async () => reports.some((r) => r.actions.includes('start rtc-coal.service')) && (await containers('rtc-')).join() === running(agent, {coal: specs[0]!}).join(), 30_000, 'the first pass has started coal, which runs version 0')
      const since = Date.now() / 1000
      const [passesBefore, heardBefore] = [reports.length, heard]

      // Version 1 starts a pass, which is held at its restart while versions 2-5 arrive.
      hold.arm()
      await put(agent, {coal: specs[1]!})
      await hold.reached
      for (const spec of specs.slice(2)) await put(agent, {coal: spec})
      await waitUntil(async () => heard - heardBefore >= 5, 10_000, 'the watch has told the loop of all five changes')
      hold.release()

      await waitUntil(async () => (await containers('rtc-')).join() === running(agent, {coal: specs[5]!}).join(), 30_000, 'coal runs version 5')
      // A later change marks the end of the passes the burst caused: passes run one at a
      // time, so any of them (even one that finds nothing to do) comes before the pass that
      // starts `mark`.
      await put(agent, {mark: specs[0]!})
      await waitUntil(async () => reports.some((r) => r.actions.includes('start rtc-mark.service')), 30_000, 'a pass starts mark')
      const marked = reports.findIndex((r) => r.actions.includes('start rtc-mark.service'))
      assert.deepEqual(reports.slice(passesBefore, marked).map((r) => r.actions), [
        ['writeUnit rtc-coal.service', 'daemon-reload', 'restart rtc-coal.service'],
        ['writeUnit rtc-coal.service', 'daemon-reload', 'restart rtc-coal.service'],
      ], 'the held pass, then one pass for the four changes that arrived during it, and no other')
      const starts = await onNode(`docker events --since ${since} --until ${Date.now() / 1000} --filter type=container --filter event=start --filter label=berth.service=coal --format '{{index .Actor.Attributes "berth.spec-hash"}}'`)
      const hashOf = (spec: ServiceSpec): string => agent.loop.deps.render('rtc-', 'coal', spec).specHash
      assert.deepEqual(starts.trim().split('\n'), [hashOf(specs[1]!), hashOf(specs[5]!)], 'coal started twice, with version 1 and then version 5')
      assert.deepEqual(await activeStates(agent, ['coal']), ['active'])
    } finally {
      hold.release()
      await agent.close()
    }
  })
})

/** NodeOps whose next `restart unit` after arm() waits until release(); `reached` resolves when it is held. */
function holdNextRestart(ops: NodeOps, unit: string): {ops: NodeOps; arm(): void; reached: Promise<void>; release(): void} {
  let armed = false
  let reached!: () => void
  let release!: () => void
  const released = new Promise<void>((resolve) => (release = resolve))
  const held = {
    ops: {
      ...ops,
      async systemctl(args: readonly string[]) {
        if (armed && args[0] === 'restart' && args[1] === unit) {
          armed = false
          reached()
          await released
        }
        return ops.systemctl(args)
      },
    },
    arm: () => (armed = true),
    reached: new Promise<void>((resolve) => (reached = resolve)),
    release: () => release(),
  }
  return held
}
