import {BerthCommand} from '../../src/cli/base.js'
import {optionsFlag} from '../../src/agent/options.js'
import {loadAgent} from '../../src/agent/wiring/runtime.js'
import type {PassReport} from '../../src/agent/loop/status.js'

export default class AgentInit extends BerthCommand {
  static override summary = 'Bring this node to the desired state once, then exit: 1 if any service failed.'
  static override description = 'The installer runs this before it starts berth-agent: one full pass (observe, plan, apply) that writes every unit, starts every service and reports each one.'
  static override examples = ['<%= config.bin %> agent init --options /etc/berth/agent.json']
  static override enableJsonFlag = true
  static override flags = {options: optionsFlag}

  async run(): Promise<PassReport> {
    const {flags} = await this.parse(AgentInit)
    const agent = await loadAgent(flags.options, this.jsonEnabled() ? () => {} : (line) => this.log(line))
    try {
      const report = await agent.loop.pass()
      if (!report.converged) process.exitCode = 1
      return report
    } finally {
      await agent.close()
    }
  }
}
