/**
 * The agent's wiring hands every pass to its reporter (the loop's `onPass`), so with etcd as
 * the store each pass becomes the machine's agent record: createAgent on the real etcd of
 * scripts/services.sh, the node a FakeNode (no systemd here).
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdir} from 'node:fs/promises'
import path from 'node:path'
import {after, describe, it} from 'node:test'

import type {AgentOptions} from '../../src/agent/options.js'
import {createAgent} from '../../src/agent/wiring/runtime.js'
import {createMasterKey} from '../../src/secrets/local-key.js'
import {RecordStore} from '../../src/etcd/records.js'
import {machineKeys, type AgentRecord} from '../../src/layout/records.js'
import {scratch} from '../support/cli.js'
import {deleteEtcdPrefix, etcdUrl} from '../support/services.js'
import {FakeNode} from './loop-fake-node.js'
import {until} from './store-support.js'

const prefix = `/berth-test-reporter-${randomBytes(3).toString('hex')}`
const dir = await scratch('berth-reporter-')

describe('the agent reports each pass to etcd', () => {
  const closing: Array<() => Promise<void> | void> = []
  after(async () => {
    for (const close of closing.reverse()) await close()
    await deleteEtcdPrefix(prefix)
  })

  it('every pass, the machine\'s agent record names it', async () => {
    const unitDir = path.join(dir, 'units')
    await mkdir(unitDir, {recursive: true})
    const masterKeyFile = path.join(dir, 'master.key')
    await createMasterKey(masterKeyFile)
    // A worker: no scheduler campaign, only the loop and its reporter.
    const options: AgentOptions = {
      file: path.join(dir, 'agent.json'), listen: '127.0.0.1:0', store: {kind: 'etcd', endpoints: [etcdUrl()], prefix},
      tokenFile: path.join(dir, 'token'), allowedOrigins: [], insecureHttp: true, secrets: {kind: 'local', masterKeyFile},
      unitPrefix: 'berth-', unitDir, machine: 'worker-1', role: 'worker', resyncSeconds: 60,
    }
    const agent = createAgent(options, {ops: new FakeNode(unitDir), envFileDir: path.join(dir, 'run-berth')})
    closing.push(() => agent.close())
    const records = await RecordStore.connect([etcdUrl()])
    closing.push(() => records.close())
    const key = machineKeys('worker-1', prefix).agent
    for (const _ of [1, 2]) {
      const report = await agent.loop.pass()
      const record = await until(`the agent record of the pass begun ${report.startedAt}`, async () => {
        const stored = await records.get<AgentRecord>(key, {lenient: true})
        return stored?.lastPass === report.startedAt && stored
      }, 10_000)
      assert.equal(record.converged, report.converged)
    }
  })
})
