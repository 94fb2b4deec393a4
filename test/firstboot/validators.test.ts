import assert from 'node:assert/strict'
import {readFile, readdir} from 'node:fs/promises'
import path from 'node:path'
import {describe, it} from 'node:test'
import {execa} from 'execa'
import {parse} from 'yaml'

import {FORMATS} from '../../src/firstboot/index.js'
import {MANIFEST} from '../../src/out-dir.js'
import {berth, scratch} from '../support/cli.js'
import {fixture} from '../support/fixture.js'

/** Debian's own validators, installed by scripts/setup.sh: a missing one fails the test. */
async function validate(format: string, file: string): Promise<void> {
  const [command, args] = format === 'ignition' ? ['ignition-validate', [file]] : ['cloud-init', ['schema', '--config-file', file]]
  const result = await execa(command, args, {reject: false})
  assert.equal(result.exitCode, 0, `${command} rejected ${path.basename(file)} (run scripts/setup.sh if it is missing):\n${result.stdout}\n${result.stderr}`)
}

/** The public host key a first-boot file installs, read the way the node would read it. */
function hostPublicKey(format: string, text: string): string {
  if (format === 'cloud-init') return (parse(text) as {ssh_keys: {ed25519_public: string}}).ssh_keys.ed25519_public
  if (format === 'coreos') {
    const files = (parse(text) as {write_files: {path: string; content: string}[]}).write_files
    return files.find((f) => f.path === '/etc/ssh/ssh_host_ed25519_key.pub')?.content.trim() ?? ''
  }
  const files = (JSON.parse(text) as {storage: {files: {path: string; contents: {source: string}}[]}}).storage.files
  const source = files.find((f) => f.path === '/etc/ssh/ssh_host_ed25519_key.pub')?.contents.source ?? ''
  return Buffer.from(source.replace(/^data:;base64,/, ''), 'base64').toString().trim()
}

describe('every generated file passes its real validator, and known_hosts matches it', () => {
  for (const format of FORMATS) {
    it(`${format}: three IPs in the quick form and the fixture cluster.yaml`, async () => {
      const dir = await scratch()
      const env = {BERTH_STATE_DIR: path.join(dir, 'state')}
      const runs = [
        ['cluster', 'new-cloud-config', '10.30.0.1', '10.30.0.2', '10.30.0.3', '--registry', '10.30.0.9:5000', '--ssh-key', fixture('provisioner.pub'), '--format', format, '--out', path.join(dir, 'quick')],
        ['cluster', 'new-cloud-config', '-c', fixture('cluster.yaml'), '--format', format, '--out', path.join(dir, 'file')],
      ]
      for (const args of runs) {
        const result = await berth(args, {env})
        assert.equal(result.exitCode, 0, result.stderr)
        const out = args.at(-1)!
        const knownHosts = await readFile(path.join(out, 'known_hosts'), 'utf8')
        const names = (await readdir(out)).filter((n) => n !== 'known_hosts' && n !== MANIFEST)
        assert.ok(names.length >= 3)
        for (const name of names) {
          const file = path.join(out, name)
          await validate(format, file)
          const machine = name.replace(/\.(yaml|ign)$/, '')
          const line = knownHosts.split('\n').find((l) => l.startsWith(`${machine},`))
          assert.ok(line, `known_hosts names ${machine}`)
          assert.equal(line.split(' ').slice(1).join(' '), hostPublicKey(format, await readFile(file, 'utf8')), `${name}: host key equals known_hosts`)
        }
      }
    })
  }

  it('the private host key in a file is the pair of the public one (ssh-keygen -y)', async () => {
    const dir = await scratch()
    const out = path.join(dir, 'out')
    const result = await berth(['cluster', 'new-cloud-config', '10.30.0.1', '--registry', 'r:5000', '--ssh-key', fixture('provisioner.pub'), '-f', 'cloud-init', '-o', out], {env: {BERTH_STATE_DIR: dir}})
    assert.equal(result.exitCode, 0, result.stderr)
    const doc = parse(await readFile(path.join(out, 'main-1.yaml'), 'utf8')) as {ssh_keys: {ed25519_private: string; ed25519_public: string}}
    const {writeFile} = await import('node:fs/promises')
    await writeFile(path.join(dir, 'key'), doc.ssh_keys.ed25519_private, {mode: 0o600})
    const derived = await execa('ssh-keygen', ['-y', '-f', path.join(dir, 'key')])
    assert.equal(derived.stdout.split(' ').slice(0, 2).join(' '), doc.ssh_keys.ed25519_public)
  })
})
