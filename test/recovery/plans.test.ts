/**
 * The recovery plans as data: the exact steps of backup, restore and repair-member for the
 * fixture cluster, the exact commands they run on a node, and the CLI's --dry-run and
 * usage errors (exit 2). Only repair-member's dry run reaches etcd: the test etcd, on loopback.
 */
import assert from 'node:assert/strict'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {describe, it} from 'node:test'

import {loadClusterFile} from '../../src/config/load.js'
import {EtcdCluster, sharedEtcd} from '../../src/etcd/client.js'
import {machineShells} from '../../src/machine/shell.js'
import {shipped} from '../../src/paths.js'
import {backupSteps} from '../../src/recovery/backup.js'
import {restoreCommand, wipeAndJoinCommand} from '../../src/recovery/node-commands.js'
import {repairMemberSteps} from '../../src/recovery/repair.js'
import {restoreSteps, restoreToken} from '../../src/recovery/restore.js'
import {berth} from '../support/cli.js'
import {etcdUrl} from '../support/services.js'

const fixture = shipped('test', 'fixtures', 'cluster.yaml')
const unused = (): never => { throw new Error('a plan must not act while it is only listed') }

describe('recovery plans', () => {
  it('backup: snapshot from the first main that answers, then the file, atomically', async () => {
    const {cluster} = await loadClusterFile(fixture)
    assert.deepEqual(backupSteps({cluster, out: '/srv/b/f.snapshot'}).steps.map((s) => s.title), [
      'Take a snapshot through etcd\'s maintenance API from the first member that answers of http://10.20.0.11:2379, http://10.20.0.12:2379, http://10.20.0.13:2379',
      'Write /srv/b/f.snapshot (mode 0600, temp file then rename)',
    ])
  })

  it('restore: both checks before anything stops, then every main machine', async () => {
    const {cluster} = await loadClusterFile(fixture)
    const token = restoreToken(cluster, new Date('2026-12-01T20:30:05.123Z'))
    assert.equal(token, 'fixture-etcd-restored-20261201203005')
    const plan = restoreSteps({cluster, file: '/srv/b/f.snapshot', force: false, token, machines: machineShells(unused), timeoutMs: 1000, warn: unused})
    const initial = 'main-1=http://10.20.0.11:2380,main-2=http://10.20.0.12:2380,main-3=http://10.20.0.13:2380'
    assert.deepEqual(plan.steps.map((s) => s.title), [
      'Check /srv/b/f.snapshot: format, size, sha256, taken from cluster fixture',
      'Check that no etcd member of main-1, main-2, main-3 still has a leader (a restore discards their data)',
      'Upload the snapshot to /var/lib/berth/restore/etcd.db on main-1, main-2, main-3 (SSH, host keys verified, mode 0600)',
      'Stop etcd on main-1, main-2, main-3',
      ...[1, 2, 3].map((i) => `Restore main-${i}'s data dir from the snapshot (etcdctl snapshot restore --name main-${i} --initial-cluster-token ${token}; the old dir kept as <dir>.before-restore)`),
      `Start etcd on main-1, main-2, main-3 as a new cluster (${initial}) and wait until every member is healthy`,
      'Wait until every installed machine\'s agent has made a pass since, converged to the restored desired state',
    ])
  })

  it('repair-member: check quorum, stop, remove, wipe, learner, promote', async () => {
    const {cluster} = await loadClusterFile(fixture)
    const plan = repairMemberSteps({cluster, machine: '10.20.0.12', force: false, machines: machineShells(unused), timeoutMs: 1000, warn: unused, etcd: sharedEtcd([], unused)})
    assert.deepEqual(plan.steps.map((s) => s.title), [
      'Check etcd\'s members, health and quorum through the main machines other than main-2',
      'Stop etcd on main-2',
      'Remove main-2\'s member (http://10.20.0.12:2380) from etcd',
      'Wipe main-2\'s etcd data dir and make it join the running cluster (state existing)',
      'Add main-2 (http://10.20.0.12:2380) back as an etcd learner',
      'Start etcd on main-2, wait for it to catch up, then promote it to a voting member',
    ])
  })

  it('the node commands, exactly', () => {
    assert.equal(restoreCommand({name: 'main-1', peerUrl: 'http://10.0.0.11:2380', initialCluster: 'main-1=http://10.0.0.11:2380,main-2=http://10.0.0.12:2380', token: 't-restored-1'}), [
      'set -e',
      'DIR=$(. /etc/default/etcd 2>/dev/null; echo "${ETCD_DATA_DIR:-/var/lib/etcd/berth}")',
      'rm -rf "$DIR.restoring"',
      'ETCDCTL_API=3 etcdctl snapshot restore /var/lib/berth/restore/etcd.db --name \'main-1\' --initial-cluster \'main-1=http://10.0.0.11:2380,main-2=http://10.0.0.12:2380\' --initial-cluster-token \'t-restored-1\' --initial-advertise-peer-urls \'http://10.0.0.11:2380\' --data-dir "$DIR.restoring" >/dev/null',
      'rm -rf "$DIR.before-restore"',
      'if [ -e "$DIR" ]; then mv "$DIR" "$DIR.before-restore"; fi',
      'mv "$DIR.restoring" "$DIR"',
      'if id -u etcd >/dev/null 2>&1; then chown -R etcd:etcd "$DIR"; fi',
      'sed -i -e \'s|^ETCD_INITIAL_CLUSTER=.*|ETCD_INITIAL_CLUSTER="main-1=http://10.0.0.11:2380,main-2=http://10.0.0.12:2380"|\' -e \'s|^ETCD_INITIAL_CLUSTER_STATE=.*|ETCD_INITIAL_CLUSTER_STATE="new"|\' -e \'s|^ETCD_INITIAL_CLUSTER_TOKEN=.*|ETCD_INITIAL_CLUSTER_TOKEN="t-restored-1"|\' /etc/default/etcd',
      'rm -f /var/lib/berth/restore/etcd.db',
    ].join('\n'))
    assert.equal(wipeAndJoinCommand('main-1=http://10.0.0.11:2380,main-2=http://10.0.0.12:2380'), [
      'set -e',
      'DIR=$(. /etc/default/etcd 2>/dev/null; echo "${ETCD_DATA_DIR:-/var/lib/etcd/berth}")',
      'rm -rf "$DIR"',
      'sed -i -e \'s|^ETCD_INITIAL_CLUSTER=.*|ETCD_INITIAL_CLUSTER="main-1=http://10.0.0.11:2380,main-2=http://10.0.0.12:2380"|\' -e \'s|^ETCD_INITIAL_CLUSTER_STATE=.*|ETCD_INITIAL_CLUSTER_STATE="existing"|\' /etc/default/etcd',
    ].join('\n'))
  })

  it('repair-member --dry-run prints what each step would do, read from the live cluster (the test etcd), and changes nothing', async () => {
    // main-1 is the test etcd's member on loopback; main-2, the one repaired, is not a member of it.
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-repair-dry-'))
    try {
      const port = Number(new URL(etcdUrl()).port)
      const file = path.join(dir, 'cluster.yaml')
      await writeFile(file, `name: loop\nregistry: {url: "127.0.0.1:5055"}\nssh: {authorizedKeyFiles: ["${path.join(path.dirname(fixture), 'provisioner.pub')}"]}\netcd: {clientPort: ${port}}\nmachines:\n  - {name: main-1, ip: 127.0.0.1, role: main}\n  - {name: main-2, ip: 127.0.0.2, role: main}\n`)
      const etcd = await EtcdCluster.connect([etcdUrl()])
      const before = await etcd.members().finally(() => etcd.close())
      const voters = before.filter((m) => !m.isLearner).map((m) => `${m.name}=${m.peerUrls[0]}`)
      const dry = await berth(['cluster', 'repair_member', 'main-2', '-c', file, '--dry-run', '--timeout', '45'], {env: {BERTH_STATE_DIR: dir}})
      assert.equal(dry.exitCode, 0, dry.stderr)
      assert.equal(dry.stdout, [
        `1. Check etcd's members, health and quorum through the main machines other than main-2: would go on only if quorum holds without main-2 and with it added back (through ${etcdUrl()}): now ${before.length} of ${before.length} healthy`,
        '2. Stop etcd on main-2: would run `systemctl stop etcd.service` on main-2 (127.0.0.2)',
        '3. Remove main-2\'s member (http://127.0.0.2:2380) from etcd: not a member: nothing to remove',
        `4. Wipe main-2's etcd data dir and make it join the running cluster (state existing): would delete the data dir /etc/default/etcd names on main-2 (127.0.0.2) and set ETCD_INITIAL_CLUSTER="${[...voters, 'main-2=http://127.0.0.2:2380'].join(',')}", ETCD_INITIAL_CLUSTER_STATE="existing" there`,
        '5. Add main-2 (http://127.0.0.2:2380) back as an etcd learner: would add a learner with peer URL http://127.0.0.2:2380 (a member there already is reused)',
        '6. Start etcd on main-2, wait for it to catch up, then promote it to a voting member: would run `systemctl reset-failed etcd.service 2>/dev/null; systemctl start --no-block etcd.service` on main-2 (127.0.0.2), then promote the learner once it has caught up (up to 45 s)',
      ].join('\n'))
      const after = await EtcdCluster.connect([etcdUrl()])
      assert.deepEqual((await after.members().finally(() => after.close())).map((m) => m.id), before.map((m) => m.id), 'no member added or removed')
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })

  it('repair-member: a worker or an unknown machine is bad usage (exit 2); backup --dry-run prints its plan', async () => {
    const backup = await berth(['cluster', 'backup', '-c', fixture, '--out', '/srv/x.snapshot', '--dry-run', '--json'])
    assert.equal(backup.exitCode, 0, backup.stderr)
    assert.equal((JSON.parse(backup.stdout) as {plan: string[]}).plan[1], 'Write /srv/x.snapshot (mode 0600, temp file then rename): would write /srv/x.snapshot with mode 0600: a temp file in /srv, then renamed')
    const worker = await berth(['cluster', 'repair-member', 'worker-1', '-c', fixture, '--dry-run'])
    assert.equal(worker.exitCode, 2)
    assert.match(worker.stderr, /MACHINE: worker-1 is a worker, not an etcd member \(name a machine with role main\)/)
    const unknown = await berth(['cluster', 'repair-member', 'main-9', '-c', fixture])
    assert.equal(unknown.exitCode, 2)
    assert.match(unknown.stderr, /MACHINE: no machine is named or has the address main-9/)
  })

  it('etcd.snapshots: defaults, carried to main machines\' agents only, and a too short or malformed interval is bad usage', async () => {
    const {cluster} = await loadClusterFile(fixture)
    assert.deepEqual(cluster.etcd.snapshots, {interval: '1h', keep: 24})
    const {nodeClusterFile} = await import('../../src/firstboot/cluster-json.js')
    const {agentOptionsFor} = await import('../../src/provision/agent-unit.js')
    const json = nodeClusterFile(cluster)
    assert.deepEqual(json.etcdSnapshots, {intervalSeconds: 3600, keep: 24})
    const node = {cluster: 'fixture', machine: 'main-1', ip: '10.20.0.11', role: 'main' as const, unitPrefix: 'air-', etcdEndpoints: [], registry: '', installerImage: ''}
    assert.deepEqual(agentOptionsFor(node, json).snapshots, {dir: '/var/lib/berth/snapshots', cluster: 'fixture', intervalSeconds: 3600, keep: 24})
    assert.equal(agentOptionsFor({...node, role: 'worker'}, json).snapshots, undefined)
    const dir = await mkdtemp(path.join(tmpdir(), 'berth-snapcfg-'))
    try {
      const text = (await readFile(fixture, 'utf8')).replace('etcd: {token: fixture-etcd}', 'etcd: {token: fixture-etcd, snapshots: {interval: 2s, keep: 0}}').replace('provisioner.pub', path.join(path.dirname(fixture), 'provisioner.pub'))
      await writeFile(path.join(dir, 'cluster.yaml'), text)
      const result = await berth(['cluster', 'validate', '-c', path.join(dir, 'cluster.yaml')])
      assert.equal(result.exitCode, 2)
      assert.match(result.stderr, /etcd\/snapshots\/keep: .*1/)
      assert.match(result.stderr, /etcd\/snapshots\/interval: 2s is shorter than 5 s \(write 5s or more, like 1h\)/)
      await writeFile(path.join(dir, 'cluster.yaml'), text.replace('interval: 2s, keep: 0', 'interval: 1d, keep: 3'))
      const malformed = await berth(['cluster', 'validate', '-c', path.join(dir, 'cluster.yaml')])
      assert.equal(malformed.exitCode, 2)
      assert.match(malformed.stderr, /etcd\/snapshots\/interval/)
    } finally {
      await rm(dir, {recursive: true, force: true})
    }
  })
})
