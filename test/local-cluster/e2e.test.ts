/**
 * The local cluster end to end, as an operator drives it: start 3 → etcd 3/3 healthy, SSH
 * with verified host keys → add a 4th main node → remove one → restart every node
 * container (etcd survives on static IPs) → a quorum-breaking removal refused → destroy,
 * with nothing left behind. Checked from outside: etcdctl over SSH, dockerd's own lists.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {readFile} from 'node:fs/promises'
import path from 'node:path'
import {after, describe, it} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'
import {execa} from 'execa'

import {berth, scratch} from '../support/cli.js'

const name = `e2e-${randomBytes(3).toString('hex')}`
let env: Record<string, string> = {}
// --name goes before any `--`, after which words belong to the remote command.
const cli = (args: string[]) => berth([...args.slice(0, 2), '--name', name, ...args.slice(2)], {env})

/** etcd's member list as a node sees it: `name started/unstarted learner?` lines. */
async function memberList(node: string): Promise<string[]> {
  const result = await cli(['local-cluster', 'ssh', node, '--', 'ETCDCTL_API=3', 'etcdctl', 'member', 'list'])
  assert.equal(result.exitCode, 0, result.stderr)
  return result.stdout.trim().split('\n').map((line) => {
    const [, status, memberName, , , learner] = line.split(', ')
    return `${memberName} ${status}${learner === 'true' ? ' learner' : ''}`
  }).sort()
}

/** The address of the node after `ip`'s by `n` (the local cluster numbers its nodes' addresses in order). */
function nextAddress(ip: string, n: number): string {
  const parts = ip.split('.').map(Number)
  return [...parts.slice(0, 3), parts[3]! + n].join('.')
}

async function healthyEndpoints(node: string, count: number): Promise<number> {
  const deadline = Date.now() + 60_000
  for (;;) {
    const result = await cli(['local-cluster', 'ssh', node, '--', 'ETCDCTL_API=3', 'etcdctl', 'endpoint', 'health', '--cluster'])
    // etcdctl prints its health lines on stderr.
    const healthy = (`${result.stdout}${result.stderr}`.match(/is healthy/g) ?? []).length
    if (healthy === count || Date.now() > deadline) return healthy
    await sleep(500)
  }
}

async function labelled(kind: 'ps' | 'volume' | 'network'): Promise<string[]> {
  const args = kind === 'ps' ? ['ps', '-a', '-q'] : [kind, 'ls', '-q']
  const result = await execa('docker', [...args, '--filter', `label=berth.cluster=${name}`])
  return result.stdout.split('\n').filter(Boolean)
}

describe('local cluster end to end', {timeout: 15 * 60_000}, () => {
  // If an assertion failed half-way, remove what this run made, by the ids its unique label finds
  // (the state folder, and with it the record `destroy` reads, is gone by then).
  after(async () => {
    for (const id of await labelled('ps')) await execa('docker', ['rm', '-fv', id], {reject: false})
    for (const id of await labelled('network')) await execa('docker', ['network', 'rm', id], {reject: false})
    for (const id of await labelled('volume')) await execa('docker', ['volume', 'rm', id], {reject: false})
  })

  it('start 3, add, remove, restart, refuse a quorum break, destroy', async () => {
    const dir = await scratch('berth-e2e-')
    env = {BERTH_STATE_DIR: dir}

    assert.equal((await cli(['local-cluster', 'start', '0'])).exitCode, 2)
    assert.equal((await cli(['local-cluster', 'start', '10'])).exitCode, 2)

    const started = await cli(['local-cluster', 'start', '3', '--json'])
    assert.equal(started.exitCode, 0, started.stderr)
    const summary = JSON.parse(started.stdout) as {nodes: {name: string; ip: string}[]}
    assert.deepEqual(summary.nodes.map((n) => n.name), ['main-1', 'main-2', 'main-3'])
    assert.deepEqual(await memberList('main-1'), ['main-1 started', 'main-2 started', 'main-3 started'])
    assert.equal(await healthyEndpoints('main-2', 3), 3)

    const again = await cli(['local-cluster', 'start', '3'])
    assert.equal(again.exitCode, 2)
    assert.match(again.stderr, /a local cluster of that name exists/)

    // SSH from outside with OpenSSH, berth's known_hosts and strict checking; a wrong key is refused.
    const local = path.join(dir, 'local-clusters', name)
    const main1 = summary.nodes[0]!
    const strict = ['-i', path.join(local, 'id_ed25519'), '-o', 'StrictHostKeyChecking=yes', '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes']
    const ok = await execa('ssh', [...strict, '-o', `UserKnownHostsFile=${path.join(local, 'state', 'known_hosts')}`, `root@${main1.ip}`, 'hostname'], {reject: false})
    assert.equal(ok.stdout.trim(), 'main-1', ok.stderr)
    const wrongKnownHosts = path.join(dir, 'wrong_known_hosts')
    const other = (await readFile(path.join(local, 'state', 'known_hosts'), 'utf8')).split('\n').find((l) => l.startsWith('main-2,'))!.split(' ').slice(1).join(' ')
    await execa('sh', ['-c', `echo "${main1.ip} ${other}" > ${wrongKnownHosts}`])
    const refused = await execa('ssh', [...strict, '-o', `UserKnownHostsFile=${wrongKnownHosts}`, `root@${main1.ip}`, 'hostname'], {reject: false})
    assert.notEqual(refused.exitCode, 0)
    assert.match(refused.stderr, /HOST IDENTIFICATION HAS CHANGED|Host key verification failed/)

    // The node really booted from berth's cloud-init file, and is healthy under systemd.
    const booted = await cli(['local-cluster', 'ssh', 'main-3', '--', 'cat /etc/berth/node.json; systemctl is-system-running'])
    assert.match(booted.stdout, /"machine": "main-3"/)
    assert.match(booted.stdout, /^running$/m, booted.stdout)

    // A dry run prints every step with its arguments, read from the live cluster, and changes nothing.
    const clusterFile = path.join(local, 'cluster.yaml')
    const world = async () => ({nodes: await labelled('ps'), members: await memberList('main-1'), file: await readFile(clusterFile, 'utf8')})
    const beforeAdd = await world()
    const addPlan = await cli(['local-cluster', 'add-machine', '--dry-run', '--timeout', '90'])
    assert.equal(addPlan.exitCode, 0, addPlan.stderr)
    const main4 = nextAddress(main1.ip, 3)
    const voters = summary.nodes.map((n) => `${n.name}=http://${n.ip}:2380`).sort()
    const addLines = addPlan.stdout.split('\n')
    assert.match(addLines[0]!, new RegExp(`^1\\. Check etcd's members and health through main-1: would go on only if etcd keeps its quorum with a learner at http://${main4}:2380 .*: now 3 of 3 healthy$`))
    assert.equal(addLines[1], `2. Add main-4 (http://${main4}:2380) as an etcd learner: would add a learner with peer URL http://${main4}:2380`)
    const initial = addLines[2]!.match(/initial cluster (\S+)\)/)?.[1]?.split(',')
    assert.deepEqual(initial?.slice(0, 3).sort(), voters, addLines[2])
    assert.equal(initial?.[3], `main-4=http://${main4}:2380`)
    assert.match(addLines[2]!, new RegExp(`^3\\. Write main-4's first-boot file \\(cloud-init, joining the running cluster\\): would write ${local}/boot/\\S+ \\(main-4 at ${main4}, main;`))
    assert.ok(addLines.some((l) => new RegExp(`^\\d+\\. Boot main-4 \\(${main4}\\) from its first-boot file: would create node main-4 at ${main4} on network \\S+ from image \\S+, with user-data ${local}/boot/`).test(l)), addPlan.stdout)
    assert.ok(addLines.some((l) => /Wait for main-4 to start and catch up, then promote it to a voting member: would wait up to 90 s for main-4 to catch up and promote it/.test(l)), addPlan.stdout)
    assert.deepEqual(await world(), beforeAdd, 'the add-machine dry run changed no node, member or cluster.yaml')

    const added = await cli(['local-cluster', 'add-machine', '--json'])
    assert.equal(added.exitCode, 0, added.stderr)
    assert.equal(JSON.parse(added.stdout).name, 'main-4')
    assert.deepEqual(await memberList('main-1'), ['main-1 started', 'main-2 started', 'main-3 started', 'main-4 started'])
    assert.equal(await healthyEndpoints('main-4', 4), 4)

    const beforeRemove = await world()
    const raw = await cli(['local-cluster', 'ssh', 'main-1', '--', 'ETCDCTL_API=3', 'etcdctl', 'member', 'list'])
    const [hexId] = raw.stdout.split('\n').find((line) => line.split(', ')[2] === 'main-2')!.split(', ')
    const removePlan = await cli(['local-cluster', 'remove-machine', 'main-2', '--dry-run'])
    assert.equal(removePlan.exitCode, 0, removePlan.stderr)
    const main2 = summary.nodes[1]!.ip
    assert.ok(removePlan.stdout.split('\n').includes(`4. Remove main-2 from etcd's members: would remove member main-2 (id ${BigInt(`0x${hexId}`)}, http://${main2}:2380)`), removePlan.stdout)
    assert.match(removePlan.stdout, /Stop main-2's etcd for good: would run `systemctl disable --now etcd.service` on main-2/)
    assert.match(removePlan.stdout, /Remove main-2's container: would remove container [0-9a-f]{12} \(node main-2\) and its volumes$/)
    assert.deepEqual(await world(), beforeRemove, 'the remove-machine dry run changed no node, member or cluster.yaml')

    const removed = await cli(['local-cluster', 'remove-machine', 'main-2'])
    assert.equal(removed.exitCode, 0, removed.stderr)
    assert.deepEqual(await memberList('main-1'), ['main-1 started', 'main-3 started', 'main-4 started'])
    assert.equal((await labelled('ps')).length, 4, 'three nodes and the registry')

    // Restart every node container: static IPs keep the peer URLs, so etcd comes back.
    for (const id of await labelled('ps')) await execa('docker', ['restart', '-t', '10', id])
    assert.equal(await healthyEndpoints('main-1', 3), 3)
    const status = await cli(['local-cluster', 'status', '--json'])
    assert.deepEqual((JSON.parse(status.stdout) as {nodes: {name: string; etcd: string}[]}).nodes.map((n) => `${n.name} ${n.etcd}`), ['main-1 voter, healthy', 'main-3 voter, healthy', 'main-4 voter, healthy'])

    // With main-4's etcd stopped, removing main-3 would leave 1 healthy of 2: refused.
    assert.equal((await cli(['local-cluster', 'ssh', 'main-4', '--', 'systemctl', 'stop', 'etcd'])).exitCode, 0)
    const unsafe = await cli(['local-cluster', 'remove-machine', 'main-3'])
    assert.equal(unsafe.exitCode, 2)
    assert.match(unsafe.stderr, /removing main-3 would leave 1 healthy of 2 etcd members; quorum needs 2/)
    assert.equal((await cli(['local-cluster', 'remove-machine', 'nope'])).exitCode, 2)

    // Nodes' /var/lib/docker volumes are anonymous (no labels): note them before destroy.
    const inspect = await execa('docker', ['inspect', '--format', '{{range .Mounts}}{{.Name}} {{end}}', ...(await labelled('ps'))])
    const volumes = inspect.stdout.split(/\s+/).filter(Boolean)
    assert.ok(volumes.length >= 4, 'every node and the registry have a volume')
    const destroyed = await cli(['local-cluster', 'destroy'])
    assert.equal(destroyed.exitCode, 0, destroyed.stderr)
    assert.deepEqual([await labelled('ps'), await labelled('volume'), await labelled('network')], [[], [], []])
    const left = await execa('docker', ['volume', 'ls', '-q'])
    assert.deepEqual(volumes.filter((v) => left.stdout.split('\n').includes(v)), [], 'no volume of the cluster is left')
    assert.equal((await cli(['local-cluster', 'status'])).exitCode, 2)
  })
})
