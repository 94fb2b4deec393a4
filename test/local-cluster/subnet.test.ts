import assert from 'node:assert/strict'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {test} from 'node:test'

import {addressIn, candidateSubnets, freeSubnets, hostRoutes, overlaps, parseCidr} from '../../src/local-cluster/subnet.js'

test('parseCidr normalises the base address and rejects what is not IPv4', () => {
  assert.deepEqual(parseCidr('10.210.3.77/24'), parseCidr('10.210.3.0/24'))
  assert.equal(parseCidr('fd00::/64'), undefined)
  assert.equal(parseCidr('10.0.0.300/24'), undefined)
  assert.equal(parseCidr('10.0.0.0/33'), undefined)
})

test('overlaps sees a range inside another and neighbours apart', () => {
  const cidr = (text: string) => parseCidr(text) ?? assert.fail(text)
  assert.equal(overlaps(cidr('10.210.0.0/16'), cidr('10.210.7.0/24')), true)
  assert.equal(overlaps(cidr('10.210.7.0/24'), cidr('10.210.8.0/24')), false)
})

test('freeSubnets skips every candidate that a network or route already covers', () => {
  const candidates = ['10.210.1.0/24', '10.210.2.0/24', '10.210.3.0/24', '10.210.4.0/24']
  const inUse = ['10.210.2.0/24', '10.210.3.128/25', '172.17.0.0/16', 'fd00::/64', '']
  assert.deepEqual(freeSubnets(inUse, candidates), ['10.210.1.0/24', '10.210.4.0/24'])
  assert.deepEqual(freeSubnets(['10.0.0.0/8'], candidates), [])
})

test('candidateSubnets covers all 256 /24s of 10.210.0.0/16 from a random start', () => {
  const list = candidateSubnets(0.5)
  assert.equal(list[0], '10.210.128.0/24')
  assert.equal(new Set(list).size, 256)
})

test('addressIn counts from the subnet base', () => {
  assert.equal(addressIn('10.210.9.0/24', 2), '10.210.9.2')
})

test('hostRoutes reads /proc/net/route without the default route', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-route-'))
  const file = path.join(dir, 'route')
  await writeFile(file, [
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
    'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
    'docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0',
    'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
  ].join('\n'))
  try {
    assert.deepEqual(await hostRoutes(file), ['172.17.0.0/16', '192.0.2.0/24'])
  } finally {
    await rm(dir, {recursive: true, force: true})
  }
})
