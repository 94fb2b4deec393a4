import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {after, describe, it} from 'node:test'
import {execa} from 'execa'

import {ensureBaseImage} from '../../src/images/base.js'
import {INVENTORY, readInventory} from './inventory.js'

// Node.js and PostgreSQL are what the fresh machine has beyond plain Debian; the base
// image has neither, so the programs of these packages are left out here.
const GIVEN = ['nodejs', 'postgresql-15', 'postgresql-client-15']

describe(`what ${INVENTORY} calls fresh is in a bare Debian 12 (the debootstrap minbase berth builds its images from)`, () => {
  const name = `berth-fresh-${randomBytes(4).toString('hex')}`

  after(async () => {
    await execa('docker', ['rm', '-f', name], {reject: false})
  })

  it('every such package is installed there, and every program mapped to one is there', async () => {
    const inventory = await readInventory()
    const packages = inventory.fresh.packages.filter((pkg) => !GIVEN.includes(pkg))
    const programs = Object.entries(inventory.programs).filter(([, pkg]) => packages.includes(pkg)).map(([program]) => program)
    const base = await ensureBaseImage()
    // One line per missing thing; nothing but the image's own files is consulted (no network).
    const script = [
      `for p in ${packages.join(' ')}; do dpkg-query -W -f='\${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || echo "package $p"; done`,
      `for p in ${programs.join(' ')}; do case $p in /*) [ -e "$p" ] ;; *) command -v "$p" >/dev/null ;; esac || echo "program $p"; done`,
    ].join('\n')
    const result = await execa('docker', ['run', '--rm', '--name', name, '--network', 'none', base.ref, 'sh', '-c', script], {reject: false})
    assert.equal(result.exitCode, 0, result.stderr)
    assert.deepEqual(result.stdout.split('\n').filter(Boolean), [], `${base.ref} lacks these: move their packages from "fresh" in ${INVENTORY} to PACKAGES in scripts/setup.sh`)
    assert.ok(programs.includes('tar') && programs.includes('/bin/sh'), 'the check covered the base programs')
  })
})
