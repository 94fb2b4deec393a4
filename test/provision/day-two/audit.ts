import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {writeFile} from 'node:fs/promises'
import {hostname, userInfo} from 'node:os'
import path from 'node:path'

import {specHash} from '../../../src/hash.js'
import type {AuditEntry} from '../../../src/audit/entry.js'
import {openLocal} from '../../../src/local-cluster/context.js'
import type {DayTwoCluster, DayTwoPart} from './context.js'

/**
 * The audit trail on the shared cluster: a deploy through the admin API and a secret set
 * straight into etcd, both by the CLI, each leave an entry that `berth audit
 * --local-cluster` shows with the CLI's host and user and the spec hashes. The service asks
 * for the `data` role, which no machine of this cluster has, so nothing runs; both are
 * removed again (and those removals are entries too).
 */

const service = 'audit-probe'
const secret = 'AUDIT_PROBE'
const me = {host: hostname(), user: userInfo().username}

async function ok(result: Promise<{exitCode: number; stdout: string; stderr: string}>): Promise<string> {
  const r = await result
  assert.equal(r.exitCode, 0, r.stderr || r.stdout)
  return r.stdout
}

/** The admin API flags for main-1, and an options file for `berth secrets` on the cluster's etcd. */
async function access(cluster: DayTwoCluster): Promise<{api: string[]; options: string}> {
  const local = await openLocal({name: cluster.name, 'state-dir': cluster.dir})
  const main = local.cluster.machines[0]!
  const secrets = path.join(local.paths.stateDir, 'secrets')
  const options = path.join(cluster.dir, 'audit-options.json')
  await writeFile(options, JSON.stringify({store: {kind: 'etcd', endpoints: [`http://${main.ip}:2379`]}, secrets: {kind: 'local', masterKeyFile: path.join(secrets, 'master.key')}}), {mode: 0o600})
  return {api: ['--url', `https://${main.ip}:8443`, '--token-file', path.join(secrets, 'api-token'), '--ca', path.join(secrets, 'machines', main.name, 'api.crt')], options}
}

async function trail(cluster: DayTwoCluster, ...args: string[]): Promise<AuditEntry[]> {
  return (JSON.parse(await ok(cluster.berth(['audit', '--local-cluster', cluster.name, '--json', ...args]))) as {entries: AuditEntry[]}).entries
}

export const auditPart: DayTwoPart = {
  name: 'audit',
  checks: [{
    title: 'a deploy and a secret set through the CLI each leave an entry with the CLI\'s host and user and the hashes',
    async run(cluster) {
      const {api, options} = await access(cluster)
      const file = path.join(cluster.dir, 'audit-probe.yaml')
      // An image the registry has: every stored spec is pinned to its digest. No machine has the role data, so nothing runs.
      const {services} = JSON.parse(await ok(cluster.berth(['service', 'ls', '--json', ...api]))) as {services: Array<{name: string; spec: {image: string}}>}
      const image = services.find((s) => s.name === 'web')?.spec.image
      assert.ok(image, 'web is listed')
      await writeFile(file, `services:\n  ${service}:\n    image: "${image}"\n    roles: [data]\n`)
      const started = new Date().toISOString()
      await ok(cluster.berth(['service', 'deploy', file, ...api]))
      const value = `audit-${randomBytes(12).toString('hex')}`
      await ok(cluster.berth(['secrets', 'set', secret, '--options', options], {input: value}))

      const entries = await trail(cluster, '--since', started)
      const put = entries.find((e) => e.action === 'service.put' && e.target === service)
      assert.ok(put, `no service.put ${service} in ${JSON.stringify(entries)}`)
      assert.equal(put.from.via, 'api')
      assert.match(put.from.address ?? '', /^\d+\.\d+\.\d+\.\d+$/, 'the address main-1 saw')
      assert.deepEqual(put.from.claimed, me)
      assert.equal(put.before, null)
      const stored = JSON.parse(await ok(cluster.sh('main-1', `ETCDCTL_API=3 etcdctl get --print-value-only /berth/services/${service}`)))
      assert.equal(put.after, specHash(stored))
      const set = entries.find((e) => e.action === 'secret.set' && e.target === secret)
      assert.ok(set, `no secret.set ${secret} in ${JSON.stringify(entries)}`)
      assert.deepEqual(set.from, {via: 'cli', claimed: me})
      assert.ok(!JSON.stringify(entries).includes(value), 'the secret\'s value is in the trail')
      const table = await ok(cluster.berth(['audit', '--local-cluster', cluster.name, '--service', service]))
      assert.match(table, new RegExp(`service\\.put +${service} +api \\S+ \\(claims ${me.user}@${me.host}\\) +- +${put.after!.slice(0, 12)}`))

      await ok(cluster.berth(['service', 'rm', service, ...api]))
      await ok(cluster.berth(['secrets', 'rm', secret, '--options', options]))
      const removed = (await trail(cluster, '--since', started)).filter((e) => e.action.endsWith('.delete'))
      assert.deepEqual(removed.map((e) => [e.action, e.target, e.before]), [['service.delete', service, put.after], ['secret.delete', secret, null]])
    },
  }],
}
