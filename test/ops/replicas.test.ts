import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import type {AgentRecord} from '../../src/layout/records.js'
import type {Cluster, Machine} from '../../src/config/types.js'
import {UsageError} from '../../src/errors.js'
import {dockerExecCommand, notRunningMessage, runningCheckCommand} from '../../src/ops/exec.js'
import {type ClusterView, replicasOf, serviceNames, viewFromClusterFile} from '../../src/ops/replicas.js'
import {filterReplicas, oneReplica, serviceReplicas} from '../../src/ops/select.js'
import {exitCodeOf, wantsTty} from '../../src/ops/terminal.js'

const machine = (name: string, role: Machine['role']): Machine => ({name, ip: `10.0.0.${name.at(-1)}`, role, labels: {}})
const cluster = {
  name: 'c1', unitPrefix: 'berth-',
  machines: [machine('main-1', 'main'), machine('main-2', 'main'), machine('work-3', 'worker'), machine('data-4', 'data')],
  services: {web: {image: 'web:1'}, db: {image: 'pg:15', roles: ['data']}},
} as unknown as Cluster
const agent = (services: Record<string, string>): AgentRecord => ({version: '0.1.0', converged: true, lastPass: '2026-12-01T00:00:00Z', services, errors: {}})
const view: ClusterView = {
  services: new Map([['web', {roles: ['main', 'worker']}], ['db', {roles: ['data']}]]),
  agents: new Map([['main-1', agent({web: 'active'})], ['main-2', agent({web: 'failed'})], ['data-4', agent({db: 'active', old: 'inactive'})]]),
  source: 'etcd',
}

function usage(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof UsageError && e.exitCode === 2 && pattern.test(e.message))
}

describe('which replicas exist and where', () => {
  it('a global service has one replica per machine of its roles, with its unit, container and state', () => {
    assert.deepEqual(replicasOf(cluster, view, 'web').map((r) => [r.id, r.machine.name, r.unit, r.container, r.state]), [
      ['web.main-1', 'main-1', 'berth-web.service', 'berth-web', 'active'],
      ['web.main-2', 'main-2', 'berth-web.service', 'berth-web', 'failed'],
      ['web.work-3', 'work-3', 'berth-web.service', 'berth-web', 'unknown'],
    ])
  })

  it('a replicated service\'s replicas are where the scheduler assigned them, by slot, with per-replica unit and container', () => {
    const replicated: ClusterView = {...view, services: new Map([...view.services, ['api', {roles: ['main', 'worker'], assigned: new Map([['api.10', 'main-1'], ['api.2', 'work-3'], ['api.1', 'main-2']])}]]),
      agents: new Map([...view.agents, ['main-2', agent({web: 'failed', 'api.1': 'active'})]])}
    assert.deepEqual(replicasOf(cluster, replicated, 'api').map((r) => [r.id, r.machine.name, r.unit, r.container, r.state]), [
      ['api.1', 'main-2', 'berth-api.1.service', 'berth-api.1', 'active'],
      ['api.2', 'work-3', 'berth-api.2.service', 'berth-api.2', 'unknown'],
      ['api.10', 'main-1', 'berth-api.10.service', 'berth-api.10', 'absent'],
    ])
  })

  it('a service no longer desired but still reported by an agent is found where it runs', () => {
    assert.deepEqual(serviceNames(view), ['db', 'old', 'web'])
    assert.deepEqual(replicasOf(cluster, view, 'old').map((r) => r.id), ['old.data-4'])
  })

  it('cluster.yaml alone: its services with the agent\'s default roles', () => {
    const fromFile = viewFromClusterFile(cluster)
    assert.deepEqual(replicasOf(cluster, fromFile, 'web').map((r) => r.id), ['web.main-1', 'web.main-2', 'web.work-3'])
    assert.deepEqual(replicasOf(cluster, fromFile, 'db').map((r) => r.id), ['db.data-4'])
  })

  it('unknown service, machine or replica: exit 2 with the names that exist', () => {
    usage(() => serviceReplicas(cluster, view, 'nope'), /nope: no service of that name .*use one of: db, old, web/)
    const web = serviceReplicas(cluster, view, 'web')
    usage(() => filterReplicas(cluster, web, {machine: ['main-9']}), /no machine is named .*main-9.*use one of: main-1, main-2, work-3, data-4/)
    usage(() => filterReplicas(cluster, web, {replica: ['web.9']}), /web\.9 is not a replica of web.*use one of: web\.main-1, web\.main-2, web\.work-3/)
    usage(() => filterReplicas(cluster, web, {machine: ['data-4']}), /web has no replica on data-4.*its replicas run on: main-1, main-2, work-3/)
  })

  it('filters by machine (name or IP) and replica; exec picks a running one', () => {
    const web = serviceReplicas(cluster, view, 'web')
    assert.deepEqual(filterReplicas(cluster, web, {machine: ['10.0.0.2', 'work-3']}).map((r) => r.id), ['web.main-2', 'web.work-3'])
    assert.deepEqual(filterReplicas(cluster, web, {replica: ['web.main-1']}).map((r) => r.id), ['web.main-1'])
    assert.equal(oneReplica(cluster, web, {}).id, 'web.main-1')
    assert.equal(oneReplica(cluster, web, {machine: 'main-2'}).id, 'web.main-2')
  })
})

describe('exec command lines and a stopped replica', () => {
  it('quotes every word of the container and argv; a shell when none is given', () => {
    assert.equal(dockerExecCommand('berth-web', ['sh', '-c', "echo 'hi' $HOME"], false), "docker exec -i 'berth-web' 'sh' '-c' 'echo '\\''hi'\\'' $HOME'")
    assert.equal(dockerExecCommand('berth-web', [], true), "docker exec -i -t 'berth-web' 'sh' '-c' 'if command -v bash >/dev/null 2>&1; then exec bash; fi; exec sh'")
    assert.match(runningCheckCommand({container: 'berth-web', unit: 'berth-web.service'}), /docker inspect --format '\{\{\.State\.Running\}\}' 'berth-web'/)
  })

  it('says where a replica last ran and why it stopped', () => {
    const output = 'LoadState=loaded\nActiveState=failed\nSubState=failed\nResult=exit-code\nExecMainStatus=3\nStateChangeTimestamp=Tue 2026-12-01 23:50:01 UTC\n---\nstarting\nboom: no config\n'
    assert.equal(notRunningMessage({id: 'web.main-2', unit: 'berth-web.service', machine: {name: 'main-2'}}, output),
      'web.main-2 is not running: it last ran on main-2, where berth-web.service is failed (failed) since Tue 2026-12-01 23:50:01 UTC, result exit-code, exit status 3; its last lines: starting / boom: no config')
    assert.equal(notRunningMessage({id: 'web.main-2', unit: 'berth-web.service', machine: {name: 'main-2'}}, 'LoadState=not-found\nActiveState=inactive\n---\n'),
      'web.main-2 is not running: it last ran on main-2, where berth-web.service is not there (no unit file)')
  })

  it('passes exit codes on, a signal as 128 + its number; a pty for a shell on a terminal', () => {
    assert.equal(exitCodeOf({code: 7}), 7)
    assert.equal(exitCodeOf({code: null, signal: 'KILL'}), 137)
    assert.equal(exitCodeOf({code: null, signal: 'SIGTERM'}), 143)
    assert.equal(wantsTty(undefined, true, {isTTY: true}), true)
    assert.equal(wantsTty(undefined, true, {isTTY: false}), false)
    assert.equal(wantsTty(undefined, false, {isTTY: true}), false)
    assert.equal(wantsTty(true, false, {isTTY: false}), true)
    assert.equal(wantsTty(false, true, {isTTY: true}), false)
  })
})
