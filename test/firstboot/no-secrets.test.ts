import assert from 'node:assert/strict'
import {copyFile, mkdir, readFile, readdir, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {describe, it} from 'node:test'
import {execa} from 'execa'

import {FORMATS} from '../../src/firstboot/index.js'
import {berth, scratch} from '../support/cli.js'
import {fixture} from '../support/fixture.js'

/**
 * Puts secret values wherever a careless implementation could pick them up (the
 * environment, the provisioner's private key beside its public key, a secrets folder
 * beside cluster.yaml) and proves none reaches a first-boot file or the CLI's output.
 */
describe('no secret value reaches any first-boot file', () => {
  it('canaries in env, key files and secret files stay out of every format', async () => {
    const dir = await scratch()
    await copyFile(fixture('cluster.yaml'), path.join(dir, 'cluster.yaml'))
    await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'provisioner', '-f', path.join(dir, 'provisioner')])
    // Every ed25519 key starts with the same header; compare a line of key material after it.
    const providerKeyLine = (await readFile(path.join(dir, 'provisioner'), 'utf8')).split('\n')[3]!
    const canaries = ['CANARY-token-5d41402abc4b2a76', 'CANARY-aws-7f3c9e1d', 'CANARY-db-password-91ab']
    await mkdir(path.join(dir, 'secrets'))
    await writeFile(path.join(dir, 'secrets', 'admin-token'), canaries[0]!)
    const env = {
      BERTH_STATE_DIR: path.join(dir, 'state'),
      BERTH_ADMIN_TOKEN: canaries[0]!,
      AWS_SECRET_ACCESS_KEY: canaries[1]!,
      DATABASE_PASSWORD: canaries[2]!,
    }
    for (const format of FORMATS) {
      const out = path.join(dir, `out-${format}`)
      const result = await berth(['cluster', 'new-cloud-config', '-c', path.join(dir, 'cluster.yaml'), '-f', format, '-o', out], {env})
      assert.equal(result.exitCode, 0, result.stderr)
      const texts = [result.stdout, result.stderr]
      for (const name of await readdir(out)) texts.push(await readFile(path.join(out, name), 'utf8'))
      // Ignition carries file contents as base64 data URLs: search them decoded too.
      const everything = texts.join('\n').replace(/data:;base64,([A-Za-z0-9+/=]+)/g, (_, b64: string) => Buffer.from(b64, 'base64').toString())
      for (const canary of canaries) assert.ok(!everything.includes(canary), `${format}: ${canary} leaked`)
      assert.ok(!everything.includes(providerKeyLine), `${format}: the provisioner's private key leaked`)
      // The one private key in a file is that machine's own host key, nothing else.
      const blocks = everything.match(/BEGIN OPENSSH PRIVATE KEY/g) ?? []
      assert.equal(blocks.length, 5, `${format}: one host key per machine, no other private key`)
    }
  })
})
