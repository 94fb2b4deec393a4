/**
 * The agent's pass and loop on a fake node (real unit files, real file store, real secrets
 * with a local master key; systemd and dockerd simulated by FakeNode): convergence, one
 * failing service failing alone, reserved units untouched, orphans removed, a pass cut short
 * repaired by the next, changes during a pass coalesced into one more pass.
 */
import assert from 'node:assert/strict'
import {readdir, readFile, stat, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {describe, it} from 'node:test'

import type {AgentOptions} from '../../src/agent/options.js'
import {createAgent, type Agent} from '../../src/agent/wiring/runtime.js'
import {setSecret} from '../../src/agent/store/secrets-service.js'
import {validateServiceSpec} from '../../src/spec/service.js'
import {done, notYet, pollUntil} from '../../src/poll.js'
import {LocalKeyProvider} from '../../src/secrets/local-key.js'
import {fakeNodeAgent} from './loop-fake-node.js'
import {recordPasses} from './pass-record.js'

const secretValue = 's3cr3t-canary-7f1e'

async function setup(resyncSeconds = 60): Promise<Awaited<ReturnType<typeof fakeNodeAgent>>> {
  const setup = await fakeNodeAgent(resyncSeconds)
  await setSecret(setup.agent.store, await LocalKeyProvider.fromFile(setup.masterKeyFile), 'DB_PASSWORD', secretValue)
  return setup
}

async function put(agent: Agent, name: string, spec: object): Promise<void> {
  await agent.store.putService(name, await validateServiceSpec(spec))
}

describe('agent pass', () => {
  it('converges, is idempotent, restarts only what changed, and retires what was deleted', async () => {
    const {agent, node, unitDir, envDir} = await setup()
    await put(agent, 'web', {image: 'localhost/web:1', env: {MODE: 'blue'}, secrets: ['DB_PASSWORD']})
    await put(agent, 'api', {image: 'localhost/api:1'})
    const first = await agent.loop.pass()
    assert.equal(first.converged, true, JSON.stringify(first))
    assert.deepEqual(first.actions, ['writeUnit berth-api.service', 'writeUnit berth-web.service', 'start berth-api.service', 'start berth-web.service'])
    assert.deepEqual(node.running(), ['berth-api', 'berth-web'])
    assert.equal((await stat(path.join(unitDir, 'berth-web.service'))).mode & 0o777, 0o644)
    const envFile = path.join(envDir, 'berth-web.env')
    assert.equal((await stat(envFile)).mode & 0o777, 0o600)
    assert.equal((await stat(envDir)).mode & 0o777, 0o700)
    assert.equal(await readFile(envFile, 'utf8'), `MODE=blue\nDB_PASSWORD=${secretValue}\n`)
    assert.ok(!(await readFile(path.join(unitDir, 'berth-web.service'), 'utf8')).includes(secretValue))

    const again = await agent.loop.pass()
    assert.deepEqual([again.actions, again.converged, again.drift], [[], true, []])

    // An env change is a restart alone: the unit names the env and label files, not the hash.
    const unitFile = path.join(unitDir, 'berth-web.service')
    const [unitBefore, inodeBefore] = [await readFile(unitFile, 'utf8'), (await stat(unitFile)).ino]
    const labelFile = path.join(envDir, 'berth-web.labels')
    const hashBefore = await readFile(labelFile, 'utf8')
    await put(agent, 'web', {image: 'localhost/web:1', env: {MODE: 'green'}, secrets: ['DB_PASSWORD']})
    const callsBefore = node.calls.length
    const changed = await agent.loop.pass()
    assert.deepEqual(changed.actions, ['restart berth-web.service'])
    assert.deepEqual(node.calls.slice(callsBefore), ['restart berth-web.service'], 'no daemon-reload')
    assert.deepEqual(changed.drift, ['web'])
    assert.deepEqual([await readFile(unitFile, 'utf8'), (await stat(unitFile)).ino], [unitBefore, inodeBefore], 'the unit file is not rewritten')
    assert.match(await readFile(envFile, 'utf8'), /^MODE=green\n/)
    const newHash = agent.loop.deps.render('berth-', 'web', (await agent.loop.desired()).desired.get('web')!).specHash
    assert.equal(await readFile(labelFile, 'utf8'), `berth.spec-hash=${newHash}\n`)
    assert.notEqual(hashBefore, `berth.spec-hash=${newHash}\n`)
    assert.equal((await stat(labelFile)).mode & 0o777, 0o600)
    assert.deepEqual([...node.containersById.values()].filter((c) => c.name === 'berth-web').map((c) => c.specHash), [newHash], 'the new container carries the new hash')
    assert.deepEqual((await agent.loop.pass()).actions, [], 'and the next pass finds it current')

    await agent.store.deleteService('web')
    const deleted = await agent.loop.pass()
    assert.deepEqual(deleted.actions, ['stop berth-web.service', 'removeUnit berth-web.service', 'daemon-reload'])
    assert.deepEqual(node.running(), ['berth-api'])
    assert.deepEqual(await readdir(unitDir), ['berth-api.service'])
    await assert.rejects(stat(envFile), {code: 'ENOENT'}, 'the env file with the secret goes with the unit')
    await assert.rejects(stat(labelFile), {code: 'ENOENT'}, 'and so does the label file')
    await agent.close()
  })

  it('fails a service with a missing secret or a bad image alone, naming the cause and no secret value', async () => {
    const {agent, node, masterKeyFile} = await setup()
    node.badImages.add('localhost/broken:1')
    await put(agent, 'ok', {image: 'localhost/ok:1', secrets: ['DB_PASSWORD']})
    await put(agent, 'nosecret', {image: 'localhost/ok:1', secrets: ['MISSING_TOKEN']})
    await put(agent, 'badimage', {image: 'localhost/broken:1'})
    const report = await agent.loop.pass()
    assert.equal(report.converged, false)
    assert.deepEqual(node.running(), ['berth-ok'])
    assert.equal(report.outcomes.ok?.ok, true)
    assert.match(report.outcomes.nosecret?.error ?? '', /secret MISSING_TOKEN is not set/)
    assert.match(report.outcomes.badimage?.error ?? '', /image localhost\/broken:1 .*cannot be pulled/)
    assert.ok(!JSON.stringify(agent.loop.status()).includes(secretValue))

    // Level-based: once the secret exists, the next pass starts the service.
    await setSecret(agent.store, await LocalKeyProvider.fromFile(masterKeyFile), 'MISSING_TOKEN', 'tok')
    const next = await agent.loop.pass()
    assert.equal(next.outcomes.nosecret?.ok, true, JSON.stringify(next.outcomes))
    assert.deepEqual(node.running(), ['berth-nosecret', 'berth-ok'])
    await agent.close()
  })

  it('never touches the system\'s own units, and the stores refuse a service that would claim one, and removes orphans', async () => {
    const {agent, node, unitDir} = await setup()
    await writeFile(path.join(unitDir, 'berth-agent.service'), '[Service]\nExecStart=/bin/true\n')
    await writeFile(path.join(unitDir, 'berth-installer.service'), '[Service]\nExecStart=/bin/true\n')
    await writeFile(path.join(unitDir, 'berth-installer.path'), '[Path]\n')
    await writeFile(path.join(unitDir, 'other.service'), '[Service]\n')
    node.states.set('berth-agent.service', {activeState: 'active', needsReload: false})
    const orphan = node.addContainer('berth-gone', 'gone')
    node.addContainer('berth-agent', 'agent')
    await assert.rejects(put(agent, 'agent', {image: 'localhost/evil:1'}), /agent is the name of berth's own unit/)
    const report = await agent.loop.pass()
    assert.deepEqual(report.actions, [`removeContainer berth-gone ${orphan.slice(0, 12)}`])
    assert.deepEqual((await readdir(unitDir)).sort(), ['berth-agent.service', 'berth-installer.path', 'berth-installer.service', 'other.service'])
    assert.deepEqual(node.running(), ['berth-agent'])
    assert.ok(!node.calls.some((c) => /agent|installer|other/.test(c)), node.calls.join('\n'))
    await agent.close()
  })

  it('starts the services of one pass at once, each with its own outcome', async () => {
    const {agent, node} = await setup()
    await put(agent, 'a', {image: 'localhost/a:1'})
    await put(agent, 'b', {image: 'localhost/b:1'})
    await put(agent, 'bad', {image: 'localhost/bad:1'})
    node.badImages.add('localhost/bad:1')
    // Each start first makes sure of its image, then runs systemctl. At once, every start has
    // asked for its image before the first systemctl start runs; one after the other, the
    // second would ask only after the first's systemctl. The order of the calls tells, with
    // no clock involved.
    const order: string[] = []
    const ensureImage = node.ensureImage.bind(node)
    node.ensureImage = async (ref) => {
      order.push(`image ${ref}`)
      return ensureImage(ref)
    }
    node.gate = async (args) => {
      if (args[0] === 'start') order.push(args.join(' '))
    }
    const report = await agent.loop.pass()
    // Every image was asked for before the first start; which start's systemctl runs first is the scheduler's to pick.
    assert.deepEqual(order.slice(0, 3).sort(), ['image localhost/a:1', 'image localhost/b:1', 'image localhost/bad:1'], order.join(', '))
    assert.deepEqual(order.slice(3).sort(), ['start berth-a.service', 'start berth-b.service'], order.join(', '))
    assert.deepEqual(report.actions.filter((a) => a.startsWith('start')), ['start berth-a.service', 'start berth-b.service', 'start berth-bad.service'])
    assert.deepEqual([report.outcomes.a?.ok, report.outcomes.b?.ok, report.outcomes.bad?.ok], [true, true, false], JSON.stringify(report.outcomes))
    assert.deepEqual(node.running(), ['berth-a', 'berth-b'])
    await agent.close()
  })

  it('reloads before it writes a unit again whose removal was cut short, so systemd does not run its old copy', async () => {
    const {agent, node} = await setup()
    await put(agent, 'web', {image: 'localhost/web:1'})
    await agent.loop.pass()
    await agent.store.deleteService('web')
    // The "kill": the pass stops for good at its reload, after the unit file was removed.
    let stuck = false
    node.gate = async (args) => {
      if (args[0] !== 'daemon-reload') return
      stuck = true
      await new Promise(() => {})
    }
    void agent.loop.pass()
    await waitFor(() => stuck)
    const restarted = createAgent({...agentOptions(agent)}, {ops: node, envFileDir: agent.loop.deps.envFileDir})
    node.gate = async () => {}
    await put(restarted, 'web', {image: 'localhost/web:2'})
    const report = await restarted.loop.pass()
    assert.deepEqual(report.actions, ['writeUnit berth-web.service', 'daemon-reload', 'start berth-web.service'])
    assert.match(node.loaded.get('berth-web.service') ?? '', /localhost\/web:2/, 'systemd runs the new unit')
    assert.deepEqual((await restarted.loop.pass()).actions, [])
    await restarted.close()
  })

  it('completes a pass that was cut short after writing units, with no orphan container', async () => {
    const {agent, node} = await setup()
    await put(agent, 'a', {image: 'localhost/a:1'})
    await put(agent, 'b', {image: 'localhost/b:1'})
    await agent.loop.pass()
    await put(agent, 'a', {image: 'localhost/a:2'})
    await put(agent, 'b', {image: 'localhost/b:2'})
    // The "kill": the pass stops for good at its restarts, after the units were written. It
    // starts both at once, so both are held: a restart let through later would run beside
    // the restarted agent's pass and race it (seen: a stopped and not yet started again).
    let atRestart!: () => void
    const stuck = new Promise<void>((resolve) => (atRestart = resolve))
    let held = 0
    node.gate = async (args) => {
      if (args[0] !== 'restart') return
      if (++held === 2) atRestart()
      await new Promise(() => {})
    }
    void agent.loop.pass()
    await stuck
    assert.deepEqual(node.calls.slice(-1), ['daemon-reload'])
    const restarted = createAgent({...agentOptions(agent)}, {ops: node, envFileDir: agent.loop.deps.envFileDir})
    node.gate = async () => {}
    const report = await restarted.loop.pass()
    // systemd loaded the new units before the kill: the restarts alone are left.
    assert.deepEqual(report.actions, ['restart berth-a.service', 'restart berth-b.service'])
    const specs = await restarted.loop.desired()
    const expected = ['a', 'b'].map((s) => restarted.loop.deps.render('berth-', s, specs.desired.get(s)!).specHash)
    assert.deepEqual([...node.containersById.values()].map((c) => c.specHash).sort(), expected.sort())
    assert.deepEqual((await restarted.loop.pass()).actions, [])
    await restarted.close()
  })
})

function agentOptions(agent: Agent): AgentOptions {
  const d = agent.loop.deps
  const file = (agent.store as unknown as {file: string}).file
  return {
    file: path.join(path.dirname(file), 'agent.json'), listen: '127.0.0.1:0', store: {kind: 'file', path: file}, tokenFile: 'x', allowedOrigins: [],
    insecureHttp: true, secrets: {kind: 'local', masterKeyFile: path.join(path.dirname(file), 'master.key')}, unitPrefix: d.prefix, unitDir: d.unitDir,
    machine: d.machine, role: d.role, resyncSeconds: d.resyncMs / 1000,
  }
}

describe('agent loop', () => {
  it('follows a change at once, and coalesces changes that arrive during a pass into one more pass', async () => {
    const {agent, node} = await setup(3600)
    let release: () => void = () => {}
    let slow = false
    let stuck = false
    node.gate = async (args) => {
      if (!slow || args[0] !== 'start') return
      stuck = true
      await new Promise<void>((r) => (release = r))
    }
    const reports = recordPasses(agent.loop)
    await agent.loop.start()
    await waitFor(() => agent.loop.status().passes >= 1)
    slow = true
    await put(agent, 'first', {image: 'localhost/x:1'})
    await waitFor(() => stuck)
    const passesDuring = agent.loop.status().passes
    for (let i = 0; i < 5; i++) await put(agent, `burst-${i}`, {image: 'localhost/x:1'})
    // Five requests besides the watch's: one pass per request would make at least six.
    for (let i = 0; i < 5; i++) agent.loop.requestSync()
    slow = false
    release()
    await waitFor(() => node.running().length === 6, 5000)
    assert.deepEqual(node.running(), ['berth-burst-0', 'berth-burst-1', 'berth-burst-2', 'berth-burst-3', 'berth-burst-4', 'berth-first'])
    // A later change marks the end of the burst's passes: passes run one at a time, and a
    // watch callback for the burst that comes after this put reads the file with it, so it is
    // this change's own. Every pass the burst caused comes before the one that starts it.
    await put(agent, 'sentinel', {image: 'localhost/x:1'})
    await waitFor(() => reports.some((r) => r.actions.includes('start berth-sentinel.service')))
    // The stuck pass, then one pass for the whole burst (watch events and requests coalesced),
    // and at most one for a watch callback the file's debounce delivered after it: never one
    // pass per change. (node-loop.test.ts counts them exactly, over etcd's one event per change.)
    const extra = reports.findIndex((r) => r.actions.includes('start berth-sentinel.service')) - passesDuring
    assert.ok(extra >= 2 && extra <= 3, `passes after the burst: ${extra}`)
    assert.equal(agent.loop.status().lastPass?.converged, true)
    assert.equal(agent.loop.status().watching, true)
    await agent.close()
  })
})

async function waitFor(check: () => boolean, ms = 3000): Promise<void> {
  await pollUntil(async () => (check() ? done(undefined) : notYet(false)), {timeoutMs: ms, intervalMs: 10, retryOn: () => false, onTimeout: () => new Error('timed out waiting')})
}
