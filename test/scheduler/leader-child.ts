/**
 * A scheduler candidate in a process of its own, for the test that kills a leader in the
 * middle of placing: one operation per transaction, and between the first and the second it
 * prints `mid` and waits, so the test can SIGKILL it there. argv: endpoint, prefix, machine, services JSON.
 */
import {SchedulerCandidate} from '../../src/scheduler/leader.js'
import type {ServiceSpec} from '../../src/spec/service.js'
import {testDemandOf, testPlace} from './test-placement.js'

const [endpoint, prefix, machine, servicesJson] = process.argv.slice(2) as [string, string, string, string]
const {Etcd3} = await import('etcd3')
const services = new Map(Object.entries(JSON.parse(servicesJson) as Record<string, ServiceSpec>))
const c = new SchedulerCandidate({client: new Etcd3({hosts: [endpoint]}), prefix, machine, services: async () => services, place: testPlace, demandOf: testDemandOf, lostAfterMs: 500, ttlSeconds: 2, maxOpsPerTxn: 1})
c.betweenTransactions = async () => {
  process.stdout.write('mid\n')
  await new Promise(() => undefined)
}
c.start()
