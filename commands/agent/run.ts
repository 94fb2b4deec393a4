import {BerthCommand} from '../../src/cli/base.js'
import {optionsFlag} from '../../src/agent/options.js'
import {loadAgent} from '../../src/agent/wiring/runtime.js'

export default class AgentRun extends BerthCommand {
  static override summary = 'Run berth-agent: keep this node equal to the desired state and serve the admin API.'
  static override description = 'Watches the desired-state store and converges the node on every change, with a full resync every resyncSeconds as a safety net. Runs on the node itself or as a container with the host PID namespace, /run/systemd, /etc/systemd/system, /run/berth and the Docker socket mounted. Stops on SIGTERM or SIGINT after the pass in flight.'
  static override examples = [
    '<%= config.bin %> agent run --options /etc/berth/agent.json',
    'docker run -d --name berth-agent --pid host --network host -v /run/systemd:/run/systemd -v /etc/systemd/system:/etc/systemd/system -v /var/run/docker.sock:/var/run/docker.sock -v /run/berth:/run/berth -v /etc/berth:/etc/berth berth/installer agent run --options /etc/berth/agent.json',
  ]
  static override flags = {options: optionsFlag}

  async run(): Promise<void> {
    const {flags} = await this.parse(AgentRun)
    const log = (line: string): void => void process.stdout.write(`${line}\n`)
    const agent = await loadAgent(flags.options, log, true)
    const [{startApi}, {quartermasterDeps}] = await Promise.all([import('../../src/agent/api/server.js'), import('../../src/agent/api/quartermaster.js')])
    const {loop, store, options} = agent
    const metrics = agent.metrics && await (await import('../../src/agent/api/metrics-listener.js')).serveMetrics(agent.metrics, options)
    const registry = await (await import('../../src/agent/wiring/registry.js')).registryApiDeps(options, agent.registry)
    const api = await startApi({options, store, log, observe: (name) => loop.observe(name), status: () => loop.status(), requestSync: () => loop.requestSync(), metrics: metrics?.onApi, pin: registry.pin, registryEvents: registry.registryEvents, readiness: agent.readiness, ...quartermasterDeps(options.store, options.unitPrefix, agent.key)})
    const agentCheck = options.agentCheck && await (await import('../../src/agent/drain/agent-check.js')).startAgentCheck(options.agentCheck.listen, agent.readiness, log)
    log(`berth-agent on ${options.machine}: admin API at ${api.url}, agent-check ${options.agentCheck?.listen ?? 'off'}, metrics ${metrics ? (metrics.url ?? 'at /metrics') : 'off'}, units ${options.unitPrefix}* in ${options.unitDir}`)
    await loop.start()
    const stopSnapshots = options.snapshots && options.store.kind === 'etcd'
      ? (await import('../../src/recovery/schedule.js')).startSnapshotSchedule({...options.snapshots, endpoints: options.store.endpoints, prefix: options.store.prefix, machine: options.machine, log})
      : undefined
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', resolve)
      process.once('SIGINT', resolve)
    })
    log('berth-agent: stopping')
    await stopSnapshots?.()
    await api.close()
    await agentCheck?.close()
    await registry.close()
    await metrics?.close()
    await agent.close()
  }
}
