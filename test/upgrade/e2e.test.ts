/**
 * The seed's story on real nodes: start 3 → provision (images, secrets, installer, the
 * example `web` on every node) → the balancer in front of web → add a worker and install it
 * → rolling upgrade to a new installer image under load through the balancer: zero failed
 * requests, every machine an etcd member throughout → remove the worker → upgrade one
 * machine → a rolling upgrade broken on one machine stops there, refuses a plain rerun,
 * and resumes to completion once fixed → destroy.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {after, describe, it} from 'node:test'

import {scratch} from '../support/cli.js'
import {startLoad} from './load.js'
import {clusterCli, dropInstallerImage, installed, labelledContainers, localCli, newInstallerImage, removeLabelled, sampleMembers} from './story.js'

const name = `up-${randomBytes(3).toString('hex')}`
const ok = (result: {exitCode: number; stderr: string; stdout: string}, what: string) => assert.equal(result.exitCode, 0, `${what}: ${result.stderr}\n${result.stdout.slice(-2000)}`)

describe('upgrades end to end', {timeout: 40 * 60_000}, () => {
  let image: [string, string] | undefined
  // Whatever happened, remove what this run made: found by its unique cluster label, and its image tags.
  after(async () => {
    await removeLabelled(name)
    if (image) await dropInstallerImage(...image)
  })

  it('provision, balance, grow, roll under load, shrink, upgrade one, break and resume, destroy', async (t) => {
    const dir = await scratch('berth-upgrade-e2e-')
    const local = localCli(name, dir)
    const cluster = clusterCli(name, dir)

    ok(await local(['local-cluster', 'start', '3']), 'start')
    const provisioned = await local(['local-cluster', 'provision', '--json'])
    ok(provisioned, 'provision')
    const oldImage = (JSON.parse(provisioned.stdout) as {installerImage: string}).installerImage

    const up = await local(['local-cluster', 'balancer', 'up', '--json'])
    ok(up, 'balancer up')
    const url = `${(JSON.parse(up.stdout) as {url: string}).url}/`
    const answers = new Set<string>()
    for (let i = 0; i < 6; i++) answers.add(/Hello from (\S+)</.exec(await (await fetch(url)).text())?.[1] ?? 'no page')
    assert.deepEqual([...answers].sort(), ['main-1', 'main-2', 'main-3'], 'round robin over every node')

    // A worker: added, its secrets uploaded, installed (the installer run by upgrade-machine:
    // the path unit can start after the upload and then misses it, see the report).
    const added = await local(['local-cluster', 'add-machine', '--role', 'worker', '--json'])
    ok(added, 'add-machine')
    assert.equal(JSON.parse(added.stdout).name, 'worker-1')
    ok(await cluster(['cluster', 'upload-secrets', 'worker-1']), 'upload-secrets worker-1')
    ok(await local(['local-cluster', 'upgrade-machine', 'worker-1']), 'install worker-1')
    ok(await local(['local-cluster', 'balancer', 'up']), 'balancer with the worker')

    // Rolling upgrade to a new installer image while requests flow through the balancer.
    const newTag = await newInstallerImage(name, oldImage, `e2e${randomBytes(2).toString('hex')}`)
    image = [oldImage, newTag]
    const plan = await local(['local-cluster', 'rolling-upgrade', '--image', newTag, '--dry-run'])
    ok(plan, 'plan')
    assert.match(plan.stdout, /wave {2}role {4}machines\n1 {5}worker {2}worker-1\n2 {5}main {4}main-1\n3 {5}main {4}main-2\n4 {5}main {4}main-3/)
    const members = await sampleMembers(name, dir)
    const load = startLoad(url)
    const rolled = await local(['local-cluster', 'rolling-upgrade', '--image', newTag, '--json'])
    const report = await load.stop()
    const samples = await members.stop()
    ok(rolled, 'rolling upgrade')
    t.diagnostic(`rolling upgrade of 4 machines: ${report.requests} requests through the balancer in ${report.seconds.toFixed(1)} s, ${report.non200} non-200, ${report.errors} errors; ${samples.length} member samples`)
    assert.deepEqual((JSON.parse(rolled.stdout) as {done: string[]}).done, ['worker-1', 'main-1', 'main-2', 'main-3'])
    assert.deepEqual({non200: report.non200, errors: report.errors, failures: report.failures}, {non200: 0, errors: 0, failures: []}, `${report.requests} requests`)
    assert.ok(report.requests > 100, `only ${report.requests} requests were sent`)
    assert.ok(samples.length > 20, `${samples.length} samples of etcd's members`)
    assert.deepEqual([...new Set(samples)], ['main-1 main-2 main-3'], 'every main machine stays a voting member throughout')
    for (const [machine, record] of Object.entries(await installed(cluster))) assert.deepEqual([machine, record.version, record.result], [machine, newTag, 'ok'])

    // Remove the worker: drained first, its services stopped politely by remove-machine.
    ok(await local(['local-cluster', 'balancer', 'drain', 'worker-1']), 'drain worker-1')
    const removed = await local(['local-cluster', 'remove-machine', 'worker-1'])
    ok(removed, 'remove worker-1')
    assert.match(removed.stdout + removed.stderr, /Stop worker-1's agent, then its services politely/)
    ok(await local(['local-cluster', 'balancer', 'up']), 'balancer without the worker')

    // One machine back to the configured image (cluster.yaml's installer: latest).
    ok(await local(['local-cluster', 'upgrade-machine', 'main-1']), 'upgrade main-1')
    const afterOne = await installed(cluster)
    assert.notEqual(afterOne['main-1']!.version, newTag)
    assert.equal(afterOne['main-2']!.version, newTag)

    // Break main-2's installer: the rolling upgrade stops there and leaves main-3 alone.
    const breakIt = "mkdir -p /etc/systemd/system/berth-installer.service.d && printf '[Service]\\nExecStartPre=/bin/sh -c \"echo broken on purpose >&2; exit 1\"\\n' > /etc/systemd/system/berth-installer.service.d/zz-break.conf"
    ok(await local(['local-cluster', 'ssh', 'main-2', '--', breakIt]), 'break main-2')
    const broken = await local(['local-cluster', 'rolling-upgrade', '--image', newTag])
    assert.equal(broken.exitCode, 1, broken.stderr)
    assert.match(broken.stderr, /rolling upgrade stopped at main-2, step "Run the installer \S+ on main-2": main-2 \(\S+\): `docker pull \S+ && systemctl start berth-installer.service` exited with 1:[^]*broken on purpose[^]*1 of 3 machines done; fix it and run again with --resume/)
    const stopped = await installed(cluster)
    assert.equal(stopped['main-1']!.version, newTag, 'main-1 was upgraded before main-2')
    assert.deepEqual(stopped['main-3'], afterOne['main-3'], 'main-3 untouched')
    const refused = await local(['local-cluster', 'rolling-upgrade', '--image', newTag])
    assert.equal(refused.exitCode, 2)
    assert.match(refused.stderr, /has done 1 of 3 machines; stopped at main-2 .*continue it with --resume, or drop it with --abandon/)

    ok(await local(['local-cluster', 'ssh', 'main-2', '--', 'rm /etc/systemd/system/berth-installer.service.d/zz-break.conf']), 'fix main-2')
    const resumed = await local(['local-cluster', 'rolling-upgrade', '--resume', '--json'])
    ok(resumed, 'resume')
    const result = JSON.parse(resumed.stdout) as {done: string[]; finished: boolean}
    assert.deepEqual([result.done, result.finished], [['main-1', 'main-2', 'main-3'], true])
    const final = await installed(cluster)
    assert.deepEqual(final['main-1'], stopped['main-1'], 'resume did not upgrade main-1 again')
    for (const machine of ['main-2', 'main-3']) assert.equal(final[machine]!.version, newTag)
    assert.match(await (await fetch(url)).text(), /Hello from main-\d/)

    // destroy does not know the balancer yet (see the report): take it down first.
    ok(await local(['local-cluster', 'balancer', 'down']), 'balancer down')
    ok(await local(['local-cluster', 'destroy']), 'destroy')
    assert.deepEqual(await labelledContainers(name), [], 'nothing of the cluster is left')
  })
})
