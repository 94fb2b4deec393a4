import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {validateServiceSpec} from '../../src/spec/service.js'
import {specHash} from '../../src/agent/plan/docker-run.js'
import {CONSTRAINT_GRAMMAR, parseConstraint} from '../../src/spec/constraint.js'
import {memoryMb} from '../../src/spec/quantities.js'
import {constraintHolds, formatConstraint} from '../../src/scheduler/constraint.js'
import {demandOf} from '../../src/scheduler/demand.js'
import {problemLines} from '../support/spec.js'

describe('scheduling fields of a service spec', () => {
  it('reads neither mode nor replicas as global, so existing specs run as before and keep their bytes', async () => {
    const spec = await validateServiceSpec({image: 'web:1'})
    assert.deepEqual(spec, {image: 'web:1', stopTimeout: 10, restart: 'always', roles: ['main', 'worker']})
    assert.equal(demandOf('web', spec).replicas, 'global')
    assert.equal(demandOf('web', await validateServiceSpec({image: 'web:1', mode: 'global'})).replicas, 'global')
  })

  it('takes replicas alone, and mode replicated with a default of one copy', async () => {
    assert.equal(demandOf('web', await validateServiceSpec({image: 'web', replicas: 3})).replicas, 3)
    assert.equal(demandOf('web', await validateServiceSpec({image: 'web', replicas: 0})).replicas, 0)
    const one = await validateServiceSpec({image: 'web', mode: 'replicated'})
    assert.equal(one.replicas, 1)
    assert.equal(demandOf('web', one).replicas, 1)
  })

  it('moves placement.roles to roles, so a validated spec validates again unchanged', async () => {
    const input = {image: 'web', replicas: 2, placement: {roles: ['worker'], constraints: ['labels.zone == eu-1'], spread: 'zone', maxPerMachine: 1}, resources: {memory: '256m', cpus: 0.5}}
    const spec = await validateServiceSpec(input)
    assert.deepEqual(spec, {
      image: 'web', replicas: 2, placement: {constraints: ['labels.zone == eu-1'], spread: 'zone', maxPerMachine: 1}, resources: {memory: '256m', cpus: 0.5},
      stopTimeout: 10, restart: 'always', roles: ['worker'],
    })
    assert.deepEqual(await validateServiceSpec(spec), spec)
    assert.deepEqual(await validateServiceSpec({image: 'web', placement: {roles: ['data']}}), {image: 'web', stopTimeout: 10, restart: 'always', roles: ['data']})
  })

  it('turns a spec into the scheduler\'s demand', async () => {
    const spec = await validateServiceSpec({
      image: 'web', replicas: 5, roles: ['worker', 'main'], resources: {memory: '1g', cpus: 0.25},
      placement: {constraints: ['labels.zone == eu-1', 'name != main-1', 'labels.disk in (ssd, nvme)'], spread: 'zone', maxPerMachine: 2},
    })
    assert.deepEqual(demandOf('web', spec), {
      name: 'web', replicas: 5, roles: ['worker', 'main'],
      constraints: [
        {attribute: 'labels.zone', operator: '==', values: ['eu-1']},
        {attribute: 'name', operator: '!=', values: ['main-1']},
        {attribute: 'labels.disk', operator: 'in', values: ['ssd', 'nvme']},
      ],
      spread: 'zone', maxPerMachine: 2, resources: {memoryMb: 1024, cpus: 0.25},
    })
    assert.deepEqual(demandOf('db', await validateServiceSpec({image: 'db'})).resources, {memoryMb: 0, cpus: 0})
  })

  it('reads memory sizes as docker does (no suffix is bytes)', () => {
    assert.deepEqual(['256m', '1g', '512k', '1048576', '0'].map(memoryMb), [256, 1024, 0.5, 1, 0])
  })

  it('names the path and the fix of every contradiction at once', async () => {
    assert.deepEqual(await problemLines({
      image: 'web', mode: 'global', replicas: 2, roles: ['main'], memory: '128m', resources: {memory: '256m'},
      placement: {roles: ['worker'], spread: 'zone', maxPerMachine: 1},
    }), [
      'cluster.yaml: services/web/replicas: is set with mode: global, which runs one copy on every eligible machine (remove replicas, or write mode: replicated)',
      'cluster.yaml: services/web/placement/roles: is given with the top-level roles too (keep one of the two: roles is a shorthand of placement.roles)',
      'cluster.yaml: services/web/resources/memory: reserves 256m, more than the container\'s limit memory: 128m (reserve at most the limit, or raise memory)',
      'cluster.yaml: services/web/placement/spread: has no effect: mode is global, one copy on every eligible machine (remove it, or give replicas: N)',
      'cluster.yaml: services/web/placement/maxPerMachine: has no effect: mode is global, one copy on every eligible machine (remove it, or give replicas: N)',
    ])
    assert.deepEqual(await problemLines({image: 'web', placement: {maxPerMachine: 2}}), [
      'cluster.yaml: services/web/placement/maxPerMachine: has no effect: the service is global (no replicas given), one copy on every eligible machine (remove it, or give replicas: N)',
    ])
    assert.deepEqual(await problemLines({image: 'web', replicas: 2, placement: {spread: 'labels.zone'}}), [
      'cluster.yaml: services/web/placement/spread: "labels.zone" names the label as a constraint does (write the label key alone, like zone)',
    ])
  })

  it('reports the schema\'s problems with the new fields with their paths', async () => {
    assert.deepEqual(await problemLines({image: 'web', mode: 'spread', replicas: -1, placement: {roles: ['boss'], constraints: 'x', colour: 1}, resources: {memory: '1 GB', cpus: 0}}), [
      'cluster.yaml: services/web/mode: "spread" is not allowed (use one of: replicated, global)',
      'cluster.yaml: services/web/replicas: must be >= 0 (Copies of a replicated service, 0-10000, placed by the scheduler on eligible machines; implies mode: replicated.)',
      'cluster.yaml: services/web/placement/colour: unknown key (remove it; known keys here: roles, constraints, spread, maxPerMachine)',
      'cluster.yaml: services/web/placement/roles/0: "boss" is not allowed (use one of: main, worker, data)',
      'cluster.yaml: services/web/placement/constraints: must be an array (Conditions on a machine\'s name and labels; every one must hold on a machine that runs a copy.)',
      'cluster.yaml: services/web/resources/memory: "1 GB" is not valid (Memory reserved per copy, written as memory is (256m, 1g; no suffix is bytes).)',
      'cluster.yaml: services/web/resources/cpus: must be > 0 (CPUs reserved per copy, like 0.5.)',
    ])
  })

  it('refuses constraints that do not parse, showing the grammar', async () => {
    const bad = ['labels.zone = eu-1', 'zone == eu-1', 'labels.zone ==', 'labels.disk in ssd', 'labels.disk in (ssd, )', 'name == a, b', 'labels. == x']
    assert.deepEqual(await problemLines({image: 'web', replicas: 1, placement: {constraints: bad}}), [
      'services/web/placement/constraints/0: "labels.zone = eu-1" has no operator: ==, != or in',
      'services/web/placement/constraints/1: "zone == eu-1": "zone" is neither name nor labels.KEY',
      'services/web/placement/constraints/2: "labels.zone ==" has an empty value',
      'services/web/placement/constraints/3: "labels.disk in ssd": in takes a list in parentheses, like (ssd, nvme)',
      'services/web/placement/constraints/4: "labels.disk in (ssd, )" has an empty value',
      'services/web/placement/constraints/5: "name == a, b": == takes one value; a list is written with in (V1, V2)',
      'services/web/placement/constraints/6: "labels. == x": "labels." is neither name nor labels.KEY',
    ].map((line) => `cluster.yaml: ${line} (${CONSTRAINT_GRAMMAR})`))
  })

  it('parses constraints with or without spaces and checks them against a machine', () => {
    const machine = {name: 'main-1', labels: {zone: 'eu-1', disk: 'ssd'}}
    const rows: [string, boolean][] = [
      ['labels.zone == eu-1', true], ['labels.zone==eu-2', false], ['name != main-1', false], ['name!=main-2', true],
      ['labels.disk in (ssd, nvme)', true], ['labels.disk in(hdd)', false], ['labels.gpu == yes', false], ['labels.gpu != yes', true],
      ['labels.gpu in (yes)', false], ['  name   ==   main-1  ', true],
    ]
    for (const [text, holds] of rows) {
      const parsed = parseConstraint(text)
      assert.ok(!('problem' in parsed), text)
      assert.equal(constraintHolds(parsed, machine), holds, text)
    }
    assert.equal(formatConstraint(parseConstraint('labels.disk in(ssd,nvme)') as never), 'labels.disk in (ssd, nvme)')
  })

  it('leaves scheduling fields out of the spec hash: a scale or a constraint does not restart containers', async () => {
    const base = await validateServiceSpec({image: 'web', memory: '256m'})
    const scheduled = await validateServiceSpec({image: 'web', memory: '256m', replicas: 3, placement: {spread: 'zone'}, resources: {cpus: 1}})
    assert.equal(specHash('p-', 'web', scheduled), specHash('p-', 'web', base))
    assert.notEqual(specHash('p-', 'web', {...base, memory: '512m'}), specHash('p-', 'web', base))
  })
})
