/**
 * What a newcomer meets first: `cluster init` writes a file whose schema line names a file
 * that exists and says how to make the key it names; a `~/` path in cluster.yaml is the
 * home folder, so the hint for a missing key works when followed as written.
 */
import assert from 'node:assert/strict'
import {mkdir, readFile, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {describe, it} from 'node:test'
import {execa} from 'execa'

import {shipped} from '../../src/paths.js'
import {berth, scratch} from '../support/cli.js'

describe('cluster init and ~ in cluster.yaml', () => {
  it('init points the schema line at the installed schema and tells how to make provisioner.pub', async () => {
    const dir = await scratch()
    const result = await berth(['cluster', 'init'], {cwd: dir})
    assert.equal(result.exitCode, 0, result.stderr)
    assert.match(result.stdout, /make it with `ssh-keygen -t ed25519 -N '' -f provisioner`/)
    const text = await readFile(path.join(dir, 'cluster.yaml'), 'utf8')
    assert.equal(text.split('\n')[0], `# yaml-language-server: $schema=${shipped('schema', 'cluster.schema.json')}`)
    // The rest is the shipped example, byte for byte.
    assert.equal(text.split('\n').slice(1).join('\n'), (await readFile(shipped('schema', 'cluster.example.yaml'), 'utf8')).split('\n').slice(1).join('\n'))
    // Following the printed step makes the file valid.
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', 'provisioner'], {cwd: dir})
    assert.equal((await berth(['cluster', 'validate'], {cwd: dir})).exitCode, 0)
  })

  it('the "no authorized key" hint, followed as written, reads the key from the home folder', async () => {
    const dir = await scratch()
    const home = path.join(dir, 'home')
    await mkdir(path.join(home, '.ssh'), {recursive: true})
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(home, '.ssh', 'id_ed25519')])
    const file = path.join(dir, 'cluster.yaml')
    const base = 'name: t\nregistry: {url: "10.0.0.2:5000"}\nmachines:\n  - {name: main-1, ip: 10.0.0.11, role: main}\n'
    await writeFile(file, `${base}ssh: {user: root}\n`)
    const refused = await berth(['cluster', 'validate', '-c', file], {env: {HOME: home}})
    assert.equal(refused.exitCode, 2)
    const hint = /\(add (ssh\/authorizedKeyFiles): (\[[^\]]+\])/.exec(refused.stderr)
    assert.ok(hint, refused.stderr)
    await writeFile(file, `${base}ssh: {authorizedKeyFiles: ${hint[2]}}\n`)
    const accepted = await berth(['cluster', 'validate', '-c', file, '--json'], {env: {HOME: home}})
    assert.equal(accepted.exitCode, 0, accepted.stderr)
  })
})
