/**
 * `cluster backup` against the real loopback etcd of scripts/services.sh, and the checks
 * `cluster restore` makes of a snapshot before anything is stopped: a truncated, corrupt
 * or foreign file and a cluster whose members still have a leader are refused (exit 2)
 * with the reason. The cluster.yaml here points its one main machine at that etcd; its SSH
 * is never reached, because every refusal comes first.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'

import {openEtcd} from '../../src/etcd/open.js'
import {snapshotDue, snapshotIfDue, snapshotsToPrune} from '../../src/recovery/schedule.js'
import {decodeSnapshot} from '../../src/recovery/snapshot-file.js'
import {berth} from '../support/cli.js'
import {etcdUrl} from '../support/services.js'

describe('etcd snapshots on the real etcd', () => {
  let dir: string
  let file: string
  const key = `/recovery-test/${randomBytes(4).toString('hex')}`

  const clusterYaml = (name: string) => {
    const port = new URL(etcdUrl()).port
    return [`name: ${name}`, 'registry: {url: "192.0.2.2:5000"}', 'ssh: {authorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDnBv3nO8Aaq3rLpj6pU6iF3c3s2m2TQmJ2dSeBbf0ds test"]}',
      `etcd: {clientPort: ${port}}`, 'machines:', '  - {name: main-1, ip: 127.0.0.1, role: main}', ''].join('\n')
  }

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-snapshot-'))
    file = path.join(dir, 'cluster.yaml')
    await writeFile(file, clusterYaml('snaptest'))
    await writeFile(path.join(dir, 'other.yaml'), clusterYaml('othercluster'))
    const etcd = await openEtcd([etcdUrl()])
    await etcd.put(key).value('before the backup')
    etcd.close()
  })

  after(() => rm(dir, {recursive: true, force: true}))

  it('backup writes one 0600 file whose metadata matches etcd and whose database holds the data', async () => {
    const out = path.join(dir, 'b.snapshot')
    const result = await berth(['cluster', 'backup', '-c', file, '--out', out, '--json'])
    assert.equal(result.exitCode, 0, result.stderr)
    const meta = JSON.parse(result.stdout) as {file: string; cluster: string; revision: string; etcdClusterId: string; members: {name: string}[]; sha256: string; dbBytes: number}
    const etcd = await openEtcd([etcdUrl()])
    const status = await etcd.maintenance.status()
    etcd.close()
    assert.equal(meta.file, out)
    assert.equal(meta.cluster, 'snaptest')
    assert.equal(meta.etcdClusterId, status.header.cluster_id)
    assert.ok(Number(meta.revision) > 0 && Number(meta.revision) <= Number(status.header.revision))
    assert.ok(meta.members.length >= 1)
    assert.equal((await stat(out)).mode & 0o777, 0o600)
    const decoded = decodeSnapshot(await readFile(out), out, 'snaptest')
    assert.equal(decoded.meta.sha256, meta.sha256)
    assert.equal(decoded.db.length, meta.dbBytes)
    // bbolt stores keys and small values as they are: the database holds the key written before.
    assert.ok(decoded.db.includes(Buffer.from(key)), 'the key written before the backup is in the database')
    assert.ok(decoded.db.includes(Buffer.from('before the backup')))
  })

  it('backup --dry-run names the member it would snapshot, read live, and the file, and writes nothing', async () => {
    const out = path.join(dir, 'dry.snapshot')
    const etcd = await openEtcd([etcdUrl()])
    const status = await etcd.maintenance.status()
    const self = (await etcd.cluster.memberList({})).members.find((m) => m.ID === status.header.member_id)!
    etcd.close()
    const result = await berth(['cluster', 'backup', '-c', file, '--out', out, '--dry-run'])
    assert.equal(result.exitCode, 0, result.stderr)
    const [take, write, ...rest] = result.stdout.split('\n')
    assert.match(take!, new RegExp(`^1\\. Take a snapshot through etcd's maintenance API from the first member that answers of ${etcdUrl()}: would stream the snapshot of member ${self.name} \\(id ${self.ID}\\) through ${etcdUrl()}: now revision \\d+, \\d+ bytes$`))
    assert.equal(write, `2. Write ${out} (mode 0600, temp file then rename): would write ${out} with mode 0600: a temp file in ${dir}, then renamed`)
    assert.deepEqual(rest, [])
    assert.ok(!(await readdir(dir)).some((f) => f.startsWith('dry.snapshot')), 'no snapshot file, not even a temp one')
  })

  it('restore refuses a truncated, corrupt, foreign or unknown file with the reason, exit 2', async () => {
    const good = await readFile(path.join(dir, 'b.snapshot'))
    const cases: [string, Buffer, RegExp][] = [
      ['truncated', good.subarray(0, good.length - 1000), /is truncated: \d+ of \d+ database bytes \(use another copy of the snapshot\)/],
      ['corrupt', Buffer.concat([good.subarray(0, good.length - 100), Buffer.from([good[good.length - 100]! ^ 0xff]), good.subarray(good.length - 99)]), /is corrupt: the database's sha256 is \w+…, its metadata says \w+…/],
      ['unknown', Buffer.from('SQLite format 3\0 not ours'), /is not a berth etcd snapshot/],
    ]
    for (const [name, bytes, message] of cases) {
      const bad = path.join(dir, `${name}.snapshot`)
      await writeFile(bad, bytes)
      const result = await berth(['cluster', 'restore', bad, '-c', file])
      assert.equal(result.exitCode, 2, `${name}: ${result.stderr}`)
      assert.match(result.stderr, new RegExp(`berth: ${bad.replaceAll('.', '\\.')}: ${message.source}`), name)
    }
    const foreign = await berth(['cluster', 'restore', path.join(dir, 'b.snapshot'), '-c', path.join(dir, 'other.yaml')])
    assert.equal(foreign.exitCode, 2)
    assert.match(foreign.stderr, /was taken from cluster "snaptest", not "othercluster"/)
  })

  it('restore refuses a cluster whose members still have a leader, unless --force', async () => {
    const result = await berth(['cluster', 'restore', path.join(dir, 'b.snapshot'), '-c', file])
    assert.equal(result.exitCode, 2, result.stderr)
    assert.match(result.stderr, /refusing to restore: 1 of 1 etcd members answer with a leader \(http:\/\/127\.0\.0\.1:\d+ at revision \d+\); restoring would discard their data \(the snapshot is at revision \d+\)\. For one lost member use `cluster repair-member`; pass --force to restore anyway/)
    const etcd = await openEtcd([etcdUrl()])
    assert.equal(await etcd.get(key).string(), 'before the backup', 'etcd kept running with its data')
    etcd.close()
  })

  it('restore --dry-run names the snapshot, the members, the new initial cluster and token, read from the file and the live etcd; nothing stops', async () => {
    const snapshot = path.join(dir, 'b.snapshot')
    const result = await berth(['cluster', 'restore', snapshot, '-c', file, '--dry-run'])
    assert.equal(result.exitCode, 0, result.stderr)
    const lines = result.stdout.trim().split('\n')
    const {meta} = decodeSnapshot(await readFile(snapshot), snapshot, 'snaptest')
    const etcd = etcdUrl().replace(/\/$/, '')
    const token = /--initial-cluster-token (snaptest-etcd-restored-\d{14});/.exec(lines[4] ?? '')?.[1]
    assert.ok(token, lines[4])
    assert.deepEqual(lines, [
      `1. Check ${snapshot}: format, size, sha256, taken from cluster snaptest: would restore revision ${meta.revision} taken ${meta.takenAt} from ${meta.takenFrom} (${meta.dbBytes} bytes, sha256 ${meta.sha256.slice(0, 12)}…)`,
      lines[1]!,
      '3. Upload the snapshot to /var/lib/berth/restore/etcd.db on main-1 (SSH, host keys verified, mode 0600): would write the snapshot\'s database to /var/lib/berth/restore/etcd.db (temp file, rename) on main-1 (127.0.0.1)',
      '4. Stop etcd on main-1: would run `systemctl stop etcd.service` on main-1 (127.0.0.1)',
      `5. Restore main-1's data dir from the snapshot (etcdctl snapshot restore --name main-1 --initial-cluster-token ${token}; the old dir kept as <dir>.before-restore): would restore /var/lib/berth/restore/etcd.db on main-1 (127.0.0.1) as member main-1 (http://127.0.0.1:2380) of the new initial cluster main-1=http://127.0.0.1:2380, token ${token}, into a fresh data dir`,
      `6. Start etcd on main-1 as a new cluster (main-1=http://127.0.0.1:2380) and wait until every member is healthy: would run \`systemctl reset-failed etcd.service 2>/dev/null; systemctl start --no-block etcd.service\` on main-1 (127.0.0.1), then wait up to 60 s until 1 of 1 members (${etcd}) are healthy`,
      '7. Wait until every installed machine\'s agent has made a pass since, converged to the restored desired state: would wait up to 60 s for a converged pass of every installed machine\'s agent made after etcd started',
    ])
    // The member check reads the live etcd: it answers with a leader, so a real run would refuse.
    assert.match(lines[1]!, new RegExp(`^2\\. Check that no etcd member of main-1 still has a leader \\(a restore discards their data\\): would ask ${etcd.replaceAll('.', '\\.')} and go on only if none answers with a leader: now 1 of 1 answer with a leader \\(${etcd.replaceAll('.', '\\.')} at revision \\d+\\), so it would refuse$`))
    const client = await openEtcd([etcdUrl()])
    assert.equal(await client.get(key).string(), 'before the backup', 'etcd kept running with its data')
    client.close()
  })

  it('scheduled: two main machines racing for a due snapshot, exactly one takes it; the next waits an interval', async () => {
    const prefix = `/recovery-test-${randomBytes(4).toString('hex')}`
    const dirs = ['m1', 'm2'].map((m) => path.join(dir, 'sched', m))
    for (const d of dirs) await mkdir(d, {recursive: true})
    const clients = await Promise.all(dirs.map(() => openEtcd([etcdUrl()])))
    try {
      const options = (i: number) => ({endpoints: [etcdUrl()], prefix, machine: `main-${i + 1}`, dir: dirs[i]!, cluster: 'snaptest', intervalSeconds: 3600, keep: 2, log: () => undefined})
      const notes = await Promise.all(clients.map((c, i) => snapshotIfDue(options(i), c)))
      assert.equal(notes.filter(Boolean).length, 1, `one took it: ${JSON.stringify(notes)}`)
      const files = await Promise.all(dirs.map((d) => readdir(d)))
      assert.equal(files.flat().length, 1)
      const taker = files.findIndex((f) => f.length === 1)
      const record = JSON.parse((await clients[0]!.get(`${prefix}/snapshots/last`).string())!) as {machine: string; file: string}
      assert.deepEqual(record, {...record, machine: `main-${taker + 1}`, file: files[taker]![0]})
      assert.equal((await stat(path.join(dirs[taker]!, record.file))).mode & 0o777, 0o600)
      decodeSnapshot(await readFile(path.join(dirs[taker]!, record.file)), record.file, 'snaptest')
      assert.deepEqual(await Promise.all(clients.map((c, i) => snapshotIfDue(options(i), c))), [undefined, undefined], 'not due again within the interval')
    } finally {
      for (const c of clients) {
        await c.delete().prefix(prefix).exec()
        c.close()
      }
    }
  })

  it('scheduled: due and pruning rules', () => {
    const last = {machine: 'main-1', file: 'f', takenAt: '2026-12-01T20:00:00.000Z', revision: '5'}
    assert.equal(snapshotDue(undefined, 0, 1000), true)
    assert.equal(snapshotDue(last, Date.parse('2026-12-01T20:59:59.999Z'), 3_600_000), false)
    assert.equal(snapshotDue(last, Date.parse('2026-12-01T21:00:00.000Z'), 3_600_000), true)
    const names = ['etcd-2026-12-01T20-00-00-000Z-r5.snapshot', 'notes.txt', 'etcd-2026-12-01T22-00-00-000Z-r9.snapshot', 'etcd-2026-12-01T21-00-00-000Z-r7.snapshot']
    assert.deepEqual(snapshotsToPrune(names, 2), ['etcd-2026-12-01T20-00-00-000Z-r5.snapshot'])
    assert.deepEqual(snapshotsToPrune(names, 5), [])
  })
})
