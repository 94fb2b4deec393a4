/**
 * The Vagrant provider: the same start, status, SSH and destroy, with the node booted by
 * `vagrant up` (vagrant/Vagrantfile, its docker provider and the node image) from the same
 * cloud-init file. Vagrant's VM providers (VirtualBox, libvirt) cannot run here.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {after, describe, it} from 'node:test'
import {execa} from 'execa'

import {berth, scratch} from '../support/cli.js'

const name = `vg-${randomBytes(3).toString('hex')}`
let env: Record<string, string> = {}
const cli = (args: string[]) => berth([...args.slice(0, 2), '--name', name, ...args.slice(2)], {env})
const labelled = async (args: string[]) => (await execa('docker', [...args, '-q', '--filter', `label=berth.cluster=${name}`])).stdout.split('\n').filter(Boolean)

describe('local cluster with the Vagrant provider', {timeout: 5 * 60_000}, () => {
  after(async () => {
    for (const id of await labelled(['ps', '-a'])) await execa('docker', ['rm', '-fv', id], {reject: false})
    for (const id of await labelled(['network', 'ls'])) await execa('docker', ['network', 'rm', id], {reject: false})
    for (const id of await labelled(['volume', 'ls'])) await execa('docker', ['volume', 'rm', id], {reject: false})
  })

  it('starts a node with vagrant up, reaches it over SSH, destroys it', async () => {
    env = {BERTH_STATE_DIR: await scratch('berth-vagrant-')}
    const started = await cli(['local-cluster', 'start', '1', '--provider', 'vagrant', '--json'])
    assert.equal(started.exitCode, 0, `${started.stderr}${started.stdout}`)
    const status = JSON.parse((await cli(['local-cluster', 'status', '--json'])).stdout) as {nodes: {name: string; ip: string; container: string; etcd: string}[]}
    assert.deepEqual(status.nodes, [{name: 'main-1', ip: status.nodes[0]!.ip, container: 'running', etcd: 'voter, healthy'}])
    const booted = await cli(['local-cluster', 'ssh', 'main-1', '--', 'cat /etc/berth/node.json; systemctl is-system-running'])
    assert.match(booted.stdout, /"machine": "main-1"/)
    assert.match(booted.stdout, /^running$/m)
    const destroyed = await cli(['local-cluster', 'destroy'])
    assert.equal(destroyed.exitCode, 0, destroyed.stderr)
    assert.deepEqual([await labelled(['ps', '-a']), await labelled(['network', 'ls'])], [[], []])
  })
})
