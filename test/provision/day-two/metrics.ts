import assert from 'node:assert/strict'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {localDir, localPaths} from '../../../src/local-cluster/record.js'
import {secretsDir} from '../../../src/provision/node-secrets.js'
import {startPrometheus} from '../../support/prometheus.js'
import type {DayTwoCluster, DayTwoPart} from './context.js'

/**
 * A real Prometheus (Debian's package) on this host, on 127.0.0.1, scraping one node's agent
 * the way an operator would: `GET /metrics` on its admin API over TLS, trusting the
 * machine's certificate and sending the cluster's API token, both from the local cluster's
 * state folder. Its config has that one static target and nothing else (no discovery, no
 * alerting, no remote write), so it contacts only loopback and that node.
 */

const machine = 'main-1'

/** The admin API's address on the node, from the options the installer wrote there. */
async function agentAddress(cluster: DayTwoCluster): Promise<string> {
  const shown = await cluster.sh(machine, 'cat /etc/berth/agent.json')
  assert.equal(shown.exitCode, 0, shown.stderr)
  return (JSON.parse(shown.stdout) as {listen: string}).listen
}

export const metricsPart: DayTwoPart = {
  name: 'metrics',
  checks: [{
    title: `a Prometheus on this host scrapes ${machine}'s agent over TLS with the token: target up, web running 1`,
    async run(cluster) {
      const secrets = secretsDir(localPaths(localDir(cluster.name, cluster.dir)).stateDir)
      const address = await agentAddress(cluster)
      const dir = await mkdtemp(path.join(tmpdir(), 'berth-prometheus-'))
      const prometheus = await startPrometheus(dir, {
        address, scheme: 'https',
        caFile: path.join(secrets, 'machines', machine, 'api.crt'),
        tokenFile: path.join(secrets, 'api-token'),
      })
      try {
        const targets = await prometheus.waitUp(60_000)
        assert.deepEqual(targets.map((t) => [t.scrapeUrl, t.health, t.lastError]), [[`https://${address}/metrics`, 'up', '']])
        // The agent's pass runs at least every resyncSeconds; web has run since provisioning.
        for (const series of ['running', 'healthy', 'desired']) {
          const result = await prometheus.query(`berth_service_${series}_replicas{service="web"}`)
          const seen = result.map((s) => [s.metric.instance, s.value[1]])
          // On a mismatch, what the agent reports of web there (its unit and health) says why.
          const reported = JSON.stringify(seen) === JSON.stringify([[address, '1']]) ? '' : `; ${machine} reports ${JSON.stringify((JSON.parse((await cluster.berth(['cluster', 'status', '--json', '--local-cluster', cluster.name])).stdout) as {machines: Array<{name: string; services: unknown; health: unknown}>}).machines.find((m) => m.name === machine))}`
          assert.deepEqual(seen, [[address, '1']], `${series}${reported}`)
        }
        const passes = await prometheus.query('berth_agent_reconcile_passes_total{result="converged"}')
        assert.ok(Number(passes[0]?.value[1]) >= 1, JSON.stringify(passes))
        const etcd = await prometheus.query('berth_etcd_request_duration_seconds_count{operation="services",outcome="ok"}')
        assert.ok(Number(etcd[0]?.value[1]) >= 1, JSON.stringify(etcd))
        const age = await prometheus.query('berth_agent_last_pass_age_seconds')
        assert.ok(Number(age[0]?.value[1]) < 120, JSON.stringify(age))
      } finally {
        await prometheus.close()
        await rm(dir, {recursive: true, force: true})
      }
    },
  }],
}
