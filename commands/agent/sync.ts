import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {optionsFlag} from '../../src/agent/options.js'
import {loadAgent} from '../../src/agent/wiring/runtime.js'
import {describeAction, type PassReport} from '../../src/agent/loop/status.js'

export default class AgentSync extends BerthCommand {
  static override summary = 'Run one pass of the agent on this node (or, with --dry-run, print what it would do).'
  static override description = 'The same pass the running agent makes on every change: read the desired state and the node, plan, apply, report. Exits 1 if any service failed.'
  static override examples = ['<%= config.bin %> agent sync --options /etc/berth/agent.json', '<%= config.bin %> agent sync --dry-run']
  static override enableJsonFlag = true
  static override flags = {
    options: optionsFlag,
    'dry-run': Flags.boolean({description: 'Print the planned actions and change nothing.'}),
  }

  async run(): Promise<PassReport | {actions: string[]}> {
    const {flags} = await this.parse(AgentSync)
    const agent = await loadAgent(flags.options, this.jsonEnabled() ? () => {} : (line) => this.log(line))
    try {
      if (flags['dry-run']) {
        const actions = (await agent.loop.planned()).map(describeAction)
        this.log(actions.length === 0 ? 'Nothing to do: the node matches the desired state.' : actions.join('\n'))
        return {actions}
      }
      const report = await agent.loop.pass()
      if (!report.converged) process.exitCode = 1
      return report
    } finally {
      await agent.close()
    }
  }
}
