import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {UsageError} from '../../src/errors.js'
import {systemdCommandLine, systemdWord} from '../../src/spec/escape.js'
import {validateServiceName, type ServiceSpec} from '../../src/spec/service.js'
import {dockerRunArgs, renderUnit} from '../../src/agent/plan/unit.js'
import {parseCommandLine, parseUnit} from '../agent/systemd-parse.js'

// Values an attacker (or a careless author) could put in any field that reaches a unit.
const hostile = [
  '%h', '%%', '100%', '%n%i%u', '$HOME', '${HOME}', '$$', 'a$', '"', "'", '\\', 'trailing\\', '\\"', 'say "hi" \'there\'',
  ';', '\\;', 'a ; b', '', ' ', '  two  spaces ', '-', '--rm', '@x', '[Service]', 'ExecStartPre=/bin/sh -c evil',
  '../../etc/passwd', 'naïve ☃', '\u2028',
]

const injections = ['\n[Service]\nExecStartPre=/bin/sh -c evil', 'a\rb', 'nul\0byte', 'tab\there', 'del\u007f', 'nel\u0085']

describe('systemdWord', () => {
  const cases: [string, string][] = [
    ['web', 'web'],
    ['--publish=127.0.0.1:80:80', '--publish=127.0.0.1:80:80'],
    ['', '""'],
    ['a b', '"a b"'],
    ['%h', '"%%h"'],
    ['$HOME', '"$$HOME"'],
    ['${HOME}', '"$${HOME}"'],
    ['say "hi"', '"say \\"hi\\""'],
    ['C:\\dir\\', '"C:\\\\dir\\\\"'],
    [';', '";"'],
    ["it's", '"it\'s"'],
  ]
  for (const [value, expected] of cases) {
    it(`renders ${JSON.stringify(value)} as ${expected}`, () => assert.equal(systemdWord(value), expected))
  }

  for (const value of injections) {
    it(`refuses ${JSON.stringify(value)}`, () => {
      assert.throws(() => systemdWord(value, {path: 'services/web/command/1'}), (error: Error) => {
        assert.ok(error instanceof UsageError)
        assert.match(error.message, /^services\/web\/command\/1: contains (a newline|a NUL byte|control character U\+[0-9A-F]{4}) at offset \d+ \(remove line breaks and control characters from the value\)$/)
        return true
      })
    })
  }

  it('reads back as exactly the same word under systemd command-line parsing', () => {
    for (const value of hostile) {
      assert.deepEqual(parseCommandLine(systemdCommandLine(['/usr/bin/docker', value])), ['/usr/bin/docker', value], JSON.stringify(value))
    }
  })

  it('keeps the test parser honest: unescaped specifiers, variables and separators are seen', () => {
    assert.deepEqual(parseCommandLine('/bin/echo %h $HOME "${X}" a$$b'), ['/bin/echo', '<%h>', '<$HOME>', '<$X>', 'a$b'])
    assert.throws(() => parseCommandLine('/bin/echo a ; /bin/sh'), /second command/)
  })
})

describe('service names', () => {
  for (const name of ['..', '../etc', 'a/b', 'web.service', 'Web', '-web', 'web-', '', 'a'.repeat(64), 'web\n']) {
    it(`refuses ${JSON.stringify(name)}`, () => assert.throws(() => validateServiceName(name), UsageError))
  }
  for (const name of ['a', 'web', 'billing-api', 'x1', 'a'.repeat(63)]) {
    it(`accepts ${JSON.stringify(name)}`, () => assert.equal(validateServiceName(name), name))
  }
})

describe('a unit rendered from hostile values', () => {
  const spec: ServiceSpec = {
    image: 'registry.example:5000/team/web:1.0',
    command: hostile,
    env: {HOME: '%h $HOME "\\', JSON: {nested: ['%h', '$HOME']}},
    mounts: [{source: '/srv/my data/%h$HOME', target: '/data "quoted"', readOnly: true}],
    labels: {'team.note': '%i ${USER} "x" \\ ;'},
    stopTimeout: 30,
    restart: 'on-failure',
    roles: ['worker'],
  }
  const unit = renderUnit('berth-', 'web', spec)
  const directives = parseUnit(unit.content)

  it('has exactly the expected directives and no others', () => {
    assert.deepEqual(directives.map((d) => d.key), [
      'Unit/Description', 'Unit/After', 'Unit/Requires',
      'Service/Type', 'Service/ExecStartPre', 'Service/ExecStart', 'Service/ExecStop',
      'Service/SuccessExitStatus', 'Service/Restart', 'Service/RestartSec', 'Service/TimeoutStartSec', 'Service/TimeoutStopSec',
    ])
  })

  it('gives docker exactly the argv that was planned, with nothing expanded', () => {
    const execStart = directives.find((d) => d.key === 'Service/ExecStart')?.value as string
    assert.deepEqual(parseCommandLine(execStart), ['/usr/bin/docker', ...dockerRunArgs('berth-', 'web', spec)])
  })

  it('keeps env values out of the unit', () => {
    assert.ok(!unit.content.includes('nested'))
    assert.ok(!unit.content.includes('HOME='))
  })

  it('refuses a spec that skipped validation and carries a newline', () => {
    for (const bad of [{command: ['x\n[Service]\nExecStartPre=/bin/sh -c evil']}, {labels: {a: 'b\nExecStop=/bin/evil'}}, {mounts: [{source: '/a\n', target: '/b'}]}]) {
      assert.throws(() => renderUnit('berth-', 'web', {...spec, ...bad}), /^UsageError: services\/web: contains a newline/)
    }
  })

  it('refuses a name or prefix that could leave its directory or namespace', () => {
    assert.throws(() => renderUnit('berth-', '../etc/evil', spec), UsageError)
    assert.throws(() => renderUnit('../', 'web', spec), UsageError)
    assert.throws(() => renderUnit('', 'web', spec), UsageError)
  })
})
