import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {parseStat, renderConfig} from '../../src/balancer/config.js'
import {UsageError} from '../../src/errors.js'

describe('balancer configuration', () => {
  it('renders one server per machine with HTTP health checks and retries', () => {
    const text = renderConfig({service: 'web', port: 8080, healthPath: '/health', servers: [{name: 'main-1', ip: '10.210.4.11'}, {name: 'main-2', ip: '10.210.4.12'}]})
    assert.match(text, /^ {2}option httpchk GET \/health$/m)
    assert.match(text, /^ {2}default-server check inter 500 fall 2 rise 2$/m)
    // Each machine's agent is asked about the service (HAProxy's agent-check), so berth drains a copy before it stops it.
    assert.match(text, /^ {2}server main-1 10\.210\.4\.11:8080 agent-check agent-port 8444 agent-inter 500 agent-send "web\\n"\n {2}server main-2 10\.210\.4\.12:8080 agent-check agent-port 8444 agent-inter 500 agent-send "web\\n"\n$/m)
    assert.match(text, /^ {2}stats socket \/run\/haproxy\/admin\.sock mode 600 level admin$/m)
    assert.match(text, /^ {2}retry-on conn-failure empty-response response-timeout 502 503$/m)
  })

  it('turns the retries off when asked (the bench counts what the drain alone saves)', () => {
    const text = renderConfig({service: 'web', port: 8080, healthPath: '/', servers: [{name: 'main-1', ip: '10.210.4.11'}]}, {retries: 0})
    assert.match(text, /^ {2}retries 0$/m)
    assert.doesNotMatch(text, /retry-on|redispatch/)
  })

  it('refuses names and paths that could change the configuration', () => {
    assert.throws(() => renderConfig({service: 'web\n  bind :22', port: 1, healthPath: '/', servers: []}), /not a HAProxy name/)
    assert.throws(() => renderConfig({service: 'web', port: 1, healthPath: '/ x', servers: []}), /not a health-check path/)
    // User input (--service, --health-path): a usage error, exit 2, with the flag and the fix, all at once.
    assert.throws(() => renderConfig({service: 'web x', port: 1, healthPath: 'health', servers: []}), (e: unknown) => e instanceof UsageError && e.exitCode === 2 && e.message === '--service: not a HAProxy name: "web x" (a service name: letters, digits, "_", "." and "-", starting with a letter or digit)\n--health-path: not a health-check path: "health" (a path starting with "/" of letters, digits, "_", ".", "/" and "-", like /health)')
  })

  it('reads the servers of one backend from show stat', () => {
    const csv = [
      '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status',
      'web,FRONTEND,,,3,5,,,,,,,,,,,,OPEN',
      'web,main-1,0,0,2,4,,,,,,,,,,,,UP',
      'web,main-2,0,0,0,1,,,,,,,,,,,,DRAIN',
      'web,BACKEND,0,0,2,5,,,,,,,,,,,,UP',
      'other,main-1,0,0,9,9,,,,,,,,,,,,DOWN',
    ].join('\n')
    assert.deepEqual(parseStat(csv, 'web'), [{name: 'main-1', status: 'UP', current: 2}, {name: 'main-2', status: 'DRAIN', current: 0}])
  })
})
