import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {UsageError} from '../../src/errors.js'
import {localFlags, localMachine, openLocal} from '../../src/local-cluster/context.js'

const ACTIONS = ['up', 'status', 'drain', 'ready', 'down'] as const

export default class LocalClusterBalancer extends BerthCommand {
  static override summary = 'Run HAProxy in front of a service that runs on every node, and drain or ready nodes.'
  static override description = 'up: build the balancer image (Debian\'s haproxy on berth\'s base image) if needed and start it at .3 of the cluster\'s network, published on 127.0.0.1 only, with an HTTP health check on every node; when it runs already, render its configuration again from today\'s nodes and reload it. drain NODE: no new requests go to NODE, wait for those in flight. ready NODE: back in, once its health check passes. down: remove it. `local-cluster destroy` removes it too.'
  static override examples = [
    '<%= config.bin %> local-cluster balancer up --service web --port 8080',
    '<%= config.bin %> local-cluster balancer status --json',
    '<%= config.bin %> local-cluster balancer drain main-2',
    '<%= config.bin %> local-cluster balancer ready main-2',
    '<%= config.bin %> local-cluster balancer down',
  ]
  static override enableJsonFlag = true
  static override args = {
    action: Args.string({description: 'What to do.', options: [...ACTIONS], required: true}),
    node: Args.string({description: 'The node to drain or make ready.'}),
  }
  static override flags = {
    ...localFlags,
    service: Flags.string({description: 'The service behind the balancer (the backend\'s name).', default: 'web'}),
    port: Flags.integer({description: 'The port the service listens on, on every node.', default: 8080, min: 1, max: 65_535}),
    'health-path': Flags.string({description: 'Path of the HTTP health check.', default: '/'}),
    timeout: Flags.integer({description: 'Seconds to wait for every node to pass its health check (0: do not wait).', default: 60, min: 0}),
    retries: Flags.integer({description: 'Times a failed request is tried again on another server (0: never; shows what the drain alone saves).', default: 3, min: 0, max: 10}),
  }

  async run(): Promise<unknown> {
    const {args, flags} = await this.parse(LocalClusterBalancer)
    const local = await openLocal(flags)
    const {balancerUp, drainServer, readyServer, serverStats} = await import('../../src/balancer/local.js')
    const {findBalancer, removeBalancer} = await import('../../src/balancer/docker.js')
    if (args.action === 'up') {
      const up = await balancerUp(local, {service: flags.service, port: flags.port, healthPath: flags['health-path'], timeoutMs: flags.timeout * 1000, retries: flags.retries})
      this.log(`${flags.service} through the balancer: ${up.url} (${up.servers.map((s) => `${s.name} ${s.status}`).join(', ')})`)
      return up
    }
    const info = await findBalancer(local.record.name)
    if (!info) throw new UsageError([{path: local.record.name, message: 'has no balancer', fix: '`berth local-cluster balancer up` starts one'}])
    if (args.action === 'down') {
      await removeBalancer(info.id)
      this.log(`Removed the balancer of ${local.record.name}.`)
      return {removed: info.id}
    }
    if (args.action === 'status') {
      const servers = await serverStats(info)
      this.log([`${info.service} at ${info.url} (${info.ip})`, ...servers.map((s) => `  ${s.name.padEnd(10)} ${s.status.padEnd(8)} ${s.current} in flight`)].join('\n'))
      return {...info, servers}
    }
    if (!args.node) throw new UsageError([{path: 'NODE', message: `${args.action} needs the node`, fix: `berth local-cluster balancer ${args.action} main-1`}])
    const node = localMachine(local, args.node).name
    const note = args.action === 'drain' ? await drainServer(info, node) : await readyServer(info, node)
    this.log(`${node}: ${note}`)
    return {node, state: args.action}
  }
}
