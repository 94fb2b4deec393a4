import {BerthError} from '../../errors.js'
import type {MachineFacts} from '../../layout/records.js'
import {openEtcd} from '../../etcd/open.js'
import {openSecret, type KeyProvider} from '../../secrets/envelope.js'
import {machineCapacity} from '../node/capacity.js'
import {defaultEnvFileDir} from '../plan/docker-run.js'
import {isHealthy} from '../../layout/records.js'
import {createHealthMonitor} from '../health/wire.js'
import {Drainer} from '../drain/drainer.js'
import type {Readiness} from '../drain/drain.js'
import type {HealthMonitor} from '../health/monitor.js'
import {AgentLoop} from '../loop/loop.js'
import type {AgentMetrics} from '../loop/metrics.js'
import {realNodeOps, type NodeOps} from '../node/node-ops.js'
import {LOST_AFTER_SECONDS, OFFLINE_GRACE_SECONDS, type AgentOptions} from '../options.js'
import {AgentReporter, agentVersion} from '../loop/report.js'
import {openKeyProvider} from '../store/secrets-service.js'
import {EtcdStore} from '../store/store-etcd.js'
import {openStore} from '../store/store-open.js'
import type {DesiredStore} from '../store/store.js'
import {cachingRenderer, validateUnitPrefix} from '../plan/unit.js'
import {NODE_PATHS} from '../../layout/node.js'

/**
 * The one place the agent's real parts are put together from its options: the store, the
 * node (systemctl, dockerd), the key provider, the unit renderer, and the loop over them.
 */

/** A wired agent: its loop and the store it reads, to be closed together. */
export interface Agent {
  loop: AgentLoop
  store: DesiredStore
  /** Present when the agent was given metrics to feed. */
  metrics?: AgentMetrics
  /** The cluster registry images without a host come from (node.json). */
  registry?: string
  /** The health checks of this node's copies; absent with fake node ops. */
  health?: HealthMonitor
  /** The copies draining before their stop, and the balancers' questions. */
  drainer: Drainer
  /** What a balancer (`asker`, its address) is told about a service here, remembered for the drains: the agent-check's and the readiness route's answer. */
  readiness(asker: string, service: string): Readiness
  /** The key provider of service secrets, opened on first use (the admin API seals quartermaster's registry auth with it). */
  key: () => Promise<KeyProvider>
  close(): Promise<void>
}

/** Builds the agent from its options; nothing connects until the first pass. */
export function createAgent(options: AgentOptions, extra: {ops?: NodeOps; registry?: string; envFileDir?: string; log?: (line: string) => void; metrics?: AgentMetrics; health?: boolean} = {}): Agent {
  const prefix = validateUnitPrefix(options.unitPrefix)
  const {metrics} = extra
  const store = openStore(options.store, metrics?.etcdTimer)
  const envFileDir = extra.envFileDir ?? defaultEnvFileDir
  const runOptions = {registry: extra.registry, envFileDir}
  let provider: Promise<KeyProvider> | undefined
  const key = (): Promise<KeyProvider> => {
    // Opened on the first secret; a failure is not cached, so a fixed key file is picked up.
    provider ??= openKeyProvider(options.secrets).catch((error: unknown) => {
      provider = undefined
      throw error
    })
    return provider
  }
  const openSecrets = async (names: readonly string[]): Promise<Map<string, string>> => {
    const values = new Map<string, string>()
    for (const name of names) {
      const blob = await store.sealedSecret(name)
      if (blob === undefined) throw new BerthError(`secret ${name} is not set; set it with \`berth secrets set ${name}\` (value on stdin) and the agent picks it up`)
      values.set(name, (await openSecret(name, blob, await key())).toString('utf8'))
    }
    return values
  }
  // Health checks need dockerd itself: on a real node only, or when a test asks for them.
  const render = cachingRenderer(runOptions)
  const drainer = new Drainer({log: extra.log})
  const health = extra.ops === undefined || extra.health ? createHealthMonitor(prefix, extra.ops ?? realNodeOps(), extra.log, (name, spec) => render(prefix, name, spec).specHash, (copy) => drainer.draining(copy)) : undefined
  const loop = new AgentLoop({
    store, prefix, openSecrets, envFileDir,
    ops: extra.ops ?? realNodeOps(),
    unitDir: options.unitDir,
    registry: extra.registry,
    render,
    machine: options.machine,
    role: options.role,
    resyncMs: options.resyncSeconds * 1000,
    offlineGraceMs: (options.offlineGraceSeconds ?? OFFLINE_GRACE_SECONDS) * 1000,
    lastContact: (): number | undefined => reporter?.lastContact(),
    log: extra.log,
    metrics,
    onDesired: health && ((desired, revisions) => health.setServices(desired, revisions)),
    drainer,
    // The reporter is made below, once the loop's ops exist; a pass comes only after start().
    onPass: (report) => void reporter?.report(report),
  })
  drainer.onAsked = () => loop.requestSync()
  // Without health checks (fake node ops) no copy is known healthy: every balancer is told drain.
  const readiness = (asker: string, service: string): Readiness => drainer.told(asker, service, health?.readiness(service) ?? 'drain')
  // With etcd, every pass is also reported as the machine's AgentRecord under a lease, with its facts for the scheduler.
  const facts = async (): Promise<MachineFacts> => ({role: options.role, labels: options.labels ?? {}, capacity: await machineCapacity(options.capacity)})
  const reporter: AgentReporter | undefined = options.store.kind === 'etcd' ? new AgentReporter({endpoints: options.store.endpoints, client: etcdClientOf(store), prefix: options.store.prefix, machine: options.machine, unitPrefix: prefix, ops: loop.deps.ops, facts, log: extra.log, health: health && (() => health.health())}) : undefined
  if (reporter && health) health.deps.onChange = () => void reporter.refresh()
  if (metrics && health) metrics.healthOf = (service) => isHealthy(health.replicaHealth(service))
  const scheduler = options.store.kind === 'etcd' && options.role === 'main' ? startScheduler(options, store, extra.log, extra.registry, key) : undefined
  return {loop, store, metrics, health, drainer, readiness, key, registry: extra.registry, close: async () => {
    health?.stop()
    await loop.stop()
    await (await scheduler)?.()
    await reporter?.close()
    await store.close()
  }}
}

/**
 * Campaigns to be the cluster's scheduler (main machines with etcd): while elected, this
 * agent places the replicated services. Returns the stop, which resigns.
 */
async function startScheduler(options: AgentOptions, store: DesiredStore, log?: (line: string) => void, registry?: string, key?: () => Promise<KeyProvider>): Promise<() => Promise<void>> {
  if (options.store.kind !== 'etcd') return async () => undefined
  const [{SchedulerCandidate}, {place}, {schedulerDemand}] = await Promise.all([import('../../scheduler/leader.js'), import('../../scheduler/placement.js'), import('../../scheduler/replicated.js')])
  const shared = etcdClientOf(store)
  const client = await (shared?.() ?? openEtcd(options.store.endpoints))
  const candidate = new SchedulerCandidate({
    client, prefix: options.store.prefix, machine: options.machine, services: () => store.services(), place, demandOf: schedulerDemand,
    lostAfterMs: (options.scheduler?.lostAfterSeconds ?? LOST_AFTER_SECONDS) * 1000, log,
  })
  candidate.start()
  // The leader also follows the tags of the services with autoUpgrade (src/scheduler/auto-upgrade.ts).
  const [{AutoUpgrader}, {nodeDigestLookup}, {pullCredentials}] = await Promise.all([import('../../scheduler/auto-upgrade.js'), import('./registry.js'), import('../store/pull-credentials.js')])
  const upgrader = new AutoUpgrader({
    client, prefix: options.store.prefix, machine: options.machine, isLeader: () => candidate.leading, store, lookup: nodeDigestLookup(), registry, log,
    credentials: (spec) => pullCredentials(spec, store, key),
  })
  void upgrader.start()
  return async () => {
    await upgrader.stop()
    await candidate.stop()
    if (!shared) client.close()
  }
}

/**
 * The etcd store's client, for the agent's other etcd users: with one client per agent a
 * member that has gone away costs one call's deadline, not one per client.
 */
function etcdClientOf(store: DesiredStore): (() => Promise<import('etcd3').Etcd3>) | undefined {
  return store instanceof EtcdStore ? () => store.client() : undefined
}

/** The cluster registry this node pulls from, as its first-boot node.json names it (images without a host are pulled there). */
export async function nodeRegistry(file = process.env.BERTH_NODE_FILE ?? NODE_PATHS.nodeFile): Promise<string | undefined> {
  const {readFile} = await import('node:fs/promises')
  const text = await readFile(file, 'utf8').catch(() => undefined)
  if (text === undefined) return undefined
  try {
    const registry = (JSON.parse(text) as {registry?: unknown}).registry
    return typeof registry === 'string' && registry !== '' ? registry : undefined
  } catch {
    return undefined
  }
}

/**
 * Loads the options file and wires the agent, logging to stdout (journald adds the time).
 * `withMetrics` (the long-running `agent run`) adds the metrics unless the options turn them off.
 */
export async function loadAgent(optionsFile: string, log: (line: string) => void = (line) => process.stdout.write(`${line}\n`), withMetrics = false): Promise<Agent & {options: AgentOptions}> {
  const {loadAgentOptions} = await import('../options.js')
  const options = await loadAgentOptions(optionsFile)
  const metrics = withMetrics && options.metrics?.enabled !== false ? await agentMetrics(options) : undefined
  return {...createAgent(options, {registry: await nodeRegistry(), log, metrics}), options}
}

/** The agent's metrics, prom-client loaded only when they are on. */
export async function agentMetrics(options: Pick<AgentOptions, 'machine' | 'role' | 'unitPrefix'>): Promise<AgentMetrics> {
  const {AgentMetrics} = await import('../loop/metrics.js')
  return new AgentMetrics({machine: options.machine, role: options.role, version: await agentVersion()}, options.unitPrefix)
}
