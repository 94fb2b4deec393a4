import type {AgentLoop} from '../../src/agent/loop/loop.js'
import type {PassReport} from '../../src/agent/loop/status.js'

/**
 * Every report of `loop`'s passes from now on, in order, however each pass was started: the
 * loop's own drain calls `pass` through the instance, so a wrapper there sees them all.
 */
export function recordPasses(loop: AgentLoop): PassReport[] {
  const reports: PassReport[] = []
  const pass = loop.pass.bind(loop)
  loop.pass = async () => {
    const report = await pass()
    reports.push(report)
    return report
  }
  return reports
}
