/**
 * The folder `--out` names holds what berth wrote there and nothing else, or berth refuses
 * it: nothing berth did not write is ever deleted, and the state dir is never inside it.
 */
import assert from 'node:assert/strict'
import {mkdir, readFile, readdir, stat, symlink, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {describe, it} from 'node:test'

import {loadClusterFile} from '../../src/config/load.js'
import {writeFirstBoot} from '../../src/firstboot/index.js'
import {MANIFEST, OutDirRefusedError} from '../../src/out-dir.js'
import {berth, scratch} from '../support/cli.js'
import {fixture} from '../support/fixture.js'

/** A cluster.yaml with main machines `names` (10.40.0.11, .12, …). */
async function clusterFile(dir: string, names: string[]): Promise<string> {
  const file = path.join(dir, 'cluster.yaml')
  const machines = names.map((n, i) => `  - {name: ${n}, ip: 10.40.0.${11 + i}, role: main}`).join('\n')
  await writeFile(file, `name: outs\nregistry: {url: "10.40.0.2:5000"}\nssh: {authorizedKeyFiles: ["${fixture('provisioner.pub')}"]}\nmachines:\n${machines}\n`)
  return file
}

/** Every file under `dir` with its content (folders end in /), to compare before and after. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const found: Record<string, string> = {}
  for (const entry of await readdir(dir, {withFileTypes: true, recursive: true})) {
    const file = path.join(entry.parentPath, entry.name)
    found[path.relative(dir, file) + (entry.isDirectory() ? '/' : '')] = entry.isDirectory() ? '' : await readFile(file, 'utf8')
  }
  return found
}

const generate = (cwd: string, ...args: string[]) => berth(['cluster', 'new-cloud-config', '-c', 'cluster.yaml', ...args], {cwd})

describe('new-cloud-config --out', () => {
  it('refuses `--out .` in a folder with a key, notes and the state dir: exit 2 naming them, nothing deleted', async () => {
    const dir = await scratch()
    await clusterFile(dir, ['main-1'])
    await writeFile(path.join(dir, 'id_ed25519'), 'PRIVATE KEY\n', {mode: 0o600})
    await writeFile(path.join(dir, 'notes.md'), 'remember the milk\n')
    const first = await generate(dir, '-o', 'boot', '--state-dir', './st')
    assert.equal(first.exitCode, 0, first.stderr)
    const before = await snapshot(dir)
    assert.ok(before['st/clusters/outs/hostkeys.json'], 'the first run made host keys in ./st')

    const result = await generate(dir, '--out', '.', '--state-dir', './st')
    assert.equal(result.exitCode, 2, result.stderr)
    assert.deepEqual(result.stderr.trim().split('\n'), [
      'berth: --out .: --state-dir st/clusters/outs is inside it, and what is kept there (host keys, node secrets) must never be mixed with files for the machines (write to another folder, or keep --state-dir outside it)',
      `berth: --out .: holds 5 entries berth did not write: boot/, cluster.yaml, id_ed25519, notes.md, st/ (move them elsewhere or choose a new or empty folder; berth replaces only the files its ${MANIFEST} there lists)`,
    ])
    assert.deepEqual(await snapshot(dir), before, 'nothing was added, changed or deleted')
  })

  it('names five entries in the way and counts the rest', async () => {
    const dir = await scratch()
    await clusterFile(dir, ['main-1'])
    await mkdir(path.join(dir, 'out'))
    for (const n of ['a', 'b', 'c', 'd', 'e', 'f', 'g']) await writeFile(path.join(dir, 'out', n), n)
    const result = await generate(dir, '-o', 'out', '--state-dir', './st')
    assert.equal(result.exitCode, 2)
    assert.match(result.stderr, /^berth: --out out: holds 7 entries berth did not write: a, b, c, d, e and 2 more \(/m)
    assert.deepEqual((await readdir(path.join(dir, 'out'))).sort(), ['a', 'b', 'c', 'd', 'e', 'f', 'g'])
    await stat(path.join(dir, 'st')).then(() => assert.fail('no host key is made for a refused run'), () => undefined)
  })

  it('replaces its own previous output, removing the files of machines no longer in cluster.yaml', async () => {
    const dir = await scratch()
    await clusterFile(dir, ['main-1', 'main-2', 'main-3'])
    assert.equal((await generate(dir, '-o', 'boot', '--state-dir', './st')).exitCode, 0)
    assert.deepEqual((await readdir(path.join(dir, 'boot'))).sort(), [MANIFEST, 'known_hosts', 'main-1.yaml', 'main-2.yaml', 'main-3.yaml'])
    const folder = (await stat(path.join(dir, 'boot'))).ino

    await clusterFile(dir, ['main-1', 'main-3'])
    const again = await generate(dir, '-o', 'boot', '--state-dir', './st', '-f', 'cloud-init')
    assert.equal(again.exitCode, 0, again.stderr)
    assert.deepEqual((await readdir(path.join(dir, 'boot'))).sort(), [MANIFEST, 'known_hosts', 'main-1.yaml', 'main-3.yaml'])
    assert.match(await readFile(path.join(dir, 'boot', 'main-3.yaml'), 'utf8'), /^#cloud-config\n/, 'rewritten in the new format')
    assert.equal((await stat(path.join(dir, 'boot'))).ino, folder, 'the folder itself stays (a shell in it keeps its place)')
    const manifest = JSON.parse(await readFile(path.join(dir, 'boot', MANIFEST), 'utf8')) as {files: string[]}
    assert.deepEqual(manifest.files, ['known_hosts', 'main-1.yaml', 'main-3.yaml'])
  })

  it('refuses its own output once something else is put there, and works again once it is gone', async () => {
    const dir = await scratch()
    await clusterFile(dir, ['main-1'])
    assert.equal((await generate(dir, '-o', 'boot', '--state-dir', './st')).exitCode, 0)
    await writeFile(path.join(dir, 'boot', 'README'), 'mine\n')
    await mkdir(path.join(dir, 'boot', 'main-2.yaml')) // a folder where berth could write a file
    const before = await snapshot(path.join(dir, 'boot'))
    const refused = await generate(dir, '-o', 'boot', '--state-dir', './st')
    assert.equal(refused.exitCode, 2)
    assert.match(refused.stderr, /holds 2 entries berth did not write: README, main-2\.yaml\/ \(/)
    assert.deepEqual(await snapshot(path.join(dir, 'boot')), before)
  })

  it('says how to move on from a folder an older berth wrote, which has no manifest', async () => {
    const dir = await scratch()
    await clusterFile(dir, ['main-1'])
    await mkdir(path.join(dir, 'boot'))
    for (const file of ['known_hosts', 'main-1.yaml']) await writeFile(path.join(dir, 'boot', file), 'old\n')
    const result = await generate(dir, '-o', 'boot', '--state-dir', './st')
    assert.equal(result.exitCode, 2)
    assert.equal(result.stderr.trim(), `berth: --out boot: holds 2 entries berth did not write: known_hosts, main-1.yaml (move them elsewhere or choose a new or empty folder; berth replaces only the files its ${MANIFEST} there lists; if an older berth wrote them (it kept no ${MANIFEST}), remove them once)`)
    assert.equal(await readFile(path.join(dir, 'boot', 'main-1.yaml'), 'utf8'), 'old\n')
  })

  it('finishes what an interrupted run left: its temp folder goes, the manifest covers the rest', async () => {
    const dir = await scratch()
    await clusterFile(dir, ['main-1'])
    assert.equal((await generate(dir, '-o', 'boot', '--state-dir', './st')).exitCode, 0)
    await mkdir(path.join(dir, 'boot', '.berth-tmp-AbC123'))
    await writeFile(path.join(dir, 'boot', '.berth-tmp-AbC123', 'main-1.yaml'), 'half')
    assert.equal((await generate(dir, '-o', 'boot', '--state-dir', './st')).exitCode, 0)
    assert.deepEqual((await readdir(path.join(dir, 'boot'))).sort(), [MANIFEST, 'known_hosts', 'main-1.yaml'])
  })

  it('writes into `.` when it is empty, and into a new folder', async () => {
    const dir = await scratch()
    await clusterFile(dir, ['main-1'])
    const here = path.join(dir, 'here')
    await mkdir(here)
    const result = await berth(['cluster', 'new-cloud-config', '-c', path.join(dir, 'cluster.yaml'), '-o', '.', '--state-dir', path.join(dir, 'st')], {cwd: here})
    assert.equal(result.exitCode, 0, result.stderr)
    assert.deepEqual((await readdir(here)).sort(), [MANIFEST, 'known_hosts', 'main-1.yaml'])
    assert.equal((await generate(dir, '-o', 'new/deeper', '--state-dir', './st')).exitCode, 0)
    assert.equal(((await stat(path.join(dir, 'new', 'deeper'))).mode & 0o777).toString(8), '700')
  })

  it('refuses a state dir inside --out, also by another spelling, before making any key', async () => {
    const dir = await scratch()
    await clusterFile(dir, ['main-1'])
    const inside = await generate(dir, '-o', 'boot', '--state-dir', 'boot/st')
    assert.equal(inside.exitCode, 2)
    assert.match(inside.stderr, /^berth: --out boot: --state-dir .*boot\/st\/clusters\/outs is inside it/m)
    await stat(path.join(dir, 'boot')).then(() => assert.fail('nothing written'), () => undefined)

    await mkdir(path.join(dir, 'real'))
    await symlink(path.join(dir, 'real'), path.join(dir, 'link'))
    const linked = await generate(dir, '-o', 'link', '--state-dir', 'real/st')
    assert.equal(linked.exitCode, 2)
    assert.match(linked.stderr, /--state-dir .*real\/st\/clusters\/outs is inside it/)
    assert.deepEqual(await readdir(path.join(dir, 'real')), [])
  })
})

describe('an added machine\'s first-boot file (add-machine)', () => {
  it('goes next to other files, into the manifest, and never over a file berth did not write', async () => {
    const dir = await scratch()
    const {cluster} = await loadClusterFile(await clusterFile(dir, ['main-1', 'main-2']))
    const stateDir = path.join(dir, 'st')
    const out = path.join(dir, 'boot')
    await writeFirstBoot(cluster, {format: 'coreos', outDir: out, stateDir})
    await writeFile(path.join(out, 'notes.md'), 'mine\n')
    const newcomer = {name: 'main-3', ip: '10.40.0.13', role: 'main' as const, labels: {}}
    const grown = {...cluster, machines: [...cluster.machines, newcomer]}
    const join = {state: 'existing' as const, members: [{name: 'main-1', peerUrl: 'http://10.40.0.11:2380'}], endpoints: ['http://10.40.0.11:2379']}
    await writeFirstBoot(grown, {format: 'coreos', outDir: out, stateDir, only: {machines: [newcomer], join}})
    assert.deepEqual((await readdir(out)).sort(), [MANIFEST, 'known_hosts', 'main-1.yaml', 'main-2.yaml', 'main-3.yaml', 'notes.md'])
    assert.equal(await readFile(path.join(out, 'notes.md'), 'utf8'), 'mine\n')
    const manifest = JSON.parse(await readFile(path.join(out, MANIFEST), 'utf8')) as {files: string[]}
    assert.deepEqual(manifest.files, ['known_hosts', 'main-1.yaml', 'main-2.yaml', 'main-3.yaml'])

    // A known_hosts of someone else's (the folder is ~/.ssh, say) is never overwritten.
    const ssh = path.join(dir, 'ssh')
    await mkdir(ssh)
    await writeFile(path.join(ssh, 'known_hosts'), 'theirs\n')
    await assert.rejects(writeFirstBoot(grown, {format: 'coreos', outDir: ssh, stateDir, only: {machines: [newcomer], join}}), (error: Error) => {
      assert.ok(error instanceof OutDirRefusedError)
      assert.equal(error.message, `--out ${ssh}: has an entry in the way that berth did not write: known_hosts (move it elsewhere or choose a new or empty folder; berth replaces only the files its ${MANIFEST} there lists)`)
      return true
    })
    assert.deepEqual(await readdir(ssh), ['known_hosts'])
    assert.equal(await readFile(path.join(ssh, 'known_hosts'), 'utf8'), 'theirs\n')
  })
})
