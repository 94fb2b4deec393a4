/**
 * node-loop.test.ts's agent process to kill: one pass against the node, whose every start
 * and restart says so on stdout and then never returns, so the test SIGKILLs this process
 * after the pass has written its units and reloaded systemd, before anything started.
 * Argument: JSON `[NodeAt, LoopPlace]`.
 */
import type {NodeOps} from '../../src/agent/node/node-ops.js'
import {agentFor, reachNode, type LoopPlace, type NodeAt} from './node-reach.js'

const [at, place] = JSON.parse(process.argv[2] ?? '[]') as [NodeAt, LoopPlace]
const real = reachNode(at)
const ops: NodeOps = {
  ...real,
  async systemctl(args) {
    if (args[0] !== 'start' && args[0] !== 'restart') return real.systemctl(args)
    process.stdout.write(`at ${args.join(' ')}\n`)
    // Held until killed; the interval keeps Node from exiting on an empty event loop.
    setInterval(() => undefined, 60_000)
    await new Promise(() => undefined)
  },
}
const agent = agentFor(at, place, ops)
const report = await agent.loop.pass()
process.stdout.write(`pass ended: ${JSON.stringify(report)}\n`)
await agent.close()
