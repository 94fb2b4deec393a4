import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {statusLines, type ClusterStatus} from '../../src/provision/status.js'

describe('cluster status lines', () => {
  it('a member that does not answer keeps its column: the reason goes on a line of its own', () => {
    const status: ClusterStatus = {cluster: 'demo', etcd: {healthy: 1, members: 2}, machines: [
      {name: 'main-1', ip: '10.0.0.11', role: 'main', etcd: 'voter, healthy', installed: {version: '0.1.0', result: 'ok', at: 'x'}, agent: {state: 'converged'}, services: {}},
      {name: 'main-2', ip: '10.0.0.12', role: 'main', etcd: 'voter, no answer from etcd at 10.0.0.12:2379 within 2000 ms', etcdProblem: 'no answer from etcd at 10.0.0.12:2379 within 2000 ms', installed: {version: '0.1.0', result: 'ok', at: 'x'}, agent: {state: 'down'}, services: {}},
    ]}
    assert.deepEqual(statusLines(status), [
      'Cluster demo: etcd 1/2 members healthy',
      '  main-1     10.0.0.11       main   etcd: voter, healthy   installed 0.1.0                agent: converged',
      '  main-2     10.0.0.12       main   etcd: voter, unhealthy installed 0.1.0                agent: down',
      '      etcd member: no answer from etcd at 10.0.0.12:2379 within 2000 ms',
    ])
  })
})
