import {loadavg} from 'node:os'
import {performance} from 'node:perf_hooks'

import {plan, type Observed, type ObservedContainer, type ObservedUnit, type UnitRenderer} from '../src/agent/plan/reconcile.js'
import type {ServiceSpec} from '../src/spec/service.js'
import {cachingRenderer, renderUnit} from '../src/agent/plan/unit.js'

/**
 * How long the agent's pure diff takes for 1,000 services on one node (target: under 50 ms):
 * 700 unchanged, 150 changed, 100 new, 50 removed, every unit rendered for real each pass
 * without a cache, and again with the agent's cachingRenderer. Run: `node dist/bench/agent-diff.js [runs]`.
 */

const runs = Number(process.argv[2] ?? 50)
const prefix = 'berth-'
const render: UnitRenderer = (p, name, spec) => renderUnit(p, name, spec, {registry: '10.0.0.2:5000'})

function service(i: number, version: number): ServiceSpec {
  return {
    image: `team/svc-${i}:${version}`,
    command: ['serve', '--port', String(8000 + (i % 1000))],
    env: {SERVICE_INDEX: i, CONFIG: {replicas: 1, tags: ['bench', `svc-${i}`]}},
    secrets: i % 3 === 0 ? ['DB_PASSWORD'] : [],
    ports: [`${20000 + i}:8080`],
    mounts: [{source: `/srv/svc-${i}`, target: '/data'}],
    labels: {team: `t${i % 7}`},
    memory: '256m',
    stopTimeout: 10,
    restart: 'always',
    roles: ['main', 'worker'],
  }
}

// The node runs services 0-849 at version 1; the desired state drops 800-849, changes
// 0-149 to version 2, keeps 150-799 and adds 850-949: 1,000 services in play.
const units = new Map<string, ObservedUnit>()
const containers: ObservedContainer[] = []
for (let i = 0; i < 850; i++) {
  const unit = render(prefix, `svc-${i}`, service(i, 1))
  units.set(unit.name, {hash: unit.hash, activeState: 'active'})
  containers.push({id: `c${i}`, name: `/${prefix}svc-${i}`, service: `svc-${i}`, specHash: unit.specHash, running: true})
}
const observed: Observed = {units, containers}
const desired = new Map<string, ServiceSpec>()
for (let i = 0; i < 950; i++) if (i < 800 || i >= 850) desired.set(`svc-${i}`, service(i, i < 150 ? 2 : 1))

/** Plans `runs` times after `warmup` unmeasured runs; returns the sorted durations in ms. */
function measure(renderer: UnitRenderer, warmup = 5): {times: number[]; actions: number} {
  let actions = 0
  const times: number[] = []
  for (let run = -warmup; run < runs; run++) {
    const start = performance.now()
    actions = plan(desired, observed, prefix, renderer).length
    if (run >= 0) times.push(performance.now() - start)
  }
  return {times: times.sort((a, b) => a - b), actions}
}

function row(label: string, times: number[]): string {
  const at = (q: number): string => (times[Math.min(times.length - 1, Math.floor(q * times.length))] as number).toFixed(1)
  return `| ${label} | ${at(0.5)} | ${at(0.95)} | ${(times.at(-1) as number).toFixed(1)} | < 50 |`
}

const cold = measure(render)
const warm = measure(cachingRenderer({registry: '10.0.0.2:5000'}))
console.log(`plan() for 1,000 services (700 unchanged, 150 changed, 100 new, 50 removed): ${runs} runs after 5 warm-up runs, ${cold.actions} actions each; load average ${loadavg()[0]?.toFixed(2)}`)
console.log('| pass | p50 ms | p95 ms | max ms | target |')
console.log('|---|---|---|---|---|')
console.log(row('every unit rendered (first pass, or every spec new)', cold.times))
console.log(row('specs unchanged since the last pass (cachingRenderer)', warm.times))
