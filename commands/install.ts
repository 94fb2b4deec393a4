import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../src/cli/base.js'
import type {InstallResult} from '../src/provision/install.js'

export default class Install extends BerthCommand {
  static override summary = 'Install this node: the agent, its options and unit, the services\' images, and the records in etcd.'
  static override description = `Runs on the node, inside the installer image, started by <prefix>installer.service once \`berth cluster upload-secrets\` has written /etc/berth/secrets/uploaded; it also runs by hand. Reads /etc/berth/node.json and /etc/berth/cluster.json, puts the cluster's initial services into etcd where absent (a newer value wins), pulls the agent image and every image this machine's role runs, writes /etc/berth/agent.json and <prefix>agent.service and starts it, waits for the agent's first pass, and records the installed version under the machine's key in etcd. A second run changes nothing: files are rewritten only when their bytes differ, and the agent restarts only then. Needs the host's systemd (/run/systemd mounted, --pid host) and the Docker socket.`
  static override examples = [
    '<%= config.bin %> install',
    'docker run --rm --network host --pid host -v /var/run/docker.sock:/var/run/docker.sock -v /etc/systemd/system:/etc/systemd/system -v /run/systemd:/run/systemd -v /etc/berth:/etc/berth -v /run/berth:/run/berth 10.0.0.2:5000/berth/installer:latest install',
    '<%= config.bin %> install --image 10.0.0.2:5000/berth/installer:0.1.0-335fcb13c742 --json',
  ]
  static override enableJsonFlag = true
  static override flags = {
    node: Flags.string({description: 'The node\'s first-boot description.', default: '/etc/berth/node.json'}),
    cluster: Flags.string({description: 'The cluster description upload-secrets wrote.', default: '/etc/berth/cluster.json'}),
    image: Flags.string({description: 'Install this agent image instead of the one cluster.json pins.'}),
    'unit-dir': Flags.string({description: 'Where systemd units go.', default: '/etc/systemd/system'}),
    'etc-dir': Flags.string({description: 'Where agent.json goes.', default: '/etc/berth'}),
    wait: Flags.integer({description: 'Seconds to wait for the agent\'s first pass.', default: 60}),
  }

  async run(): Promise<InstallResult> {
    const {flags} = await this.parse(Install)
    const {installSteps} = await import('../src/provision/install.js')
    const {runSteps} = await import('../src/cli/progress.js')
    const {realNodeOps} = await import('../src/agent/node/node-ops.js')
    const ops = realNodeOps()
    const result: Partial<InstallResult> & {changed: string[]} = {changed: []}
    const {steps, recordFailure, close} = installSteps({
      nodeFile: flags.node, clusterFile: flags.cluster, image: flags.image, etcDir: flags['etc-dir'], unitDir: flags['unit-dir'],
      agentWaitMs: flags.wait * 1000, systemctl: (args) => ops.systemctl(args),
    }, result)
    let current = ''
    const tracked = steps.map((s) => ({...s, run: () => {
      current = s.title
      return s.run()
    }}))
    try {
      await runSteps(tracked, this.jsonEnabled() ? 'silent' : 'plain')
    } catch (error) {
      await recordFailure(error as Error, current)
      throw error
    } finally {
      close()
    }
    const done = result as InstallResult
    this.log(`${done.machine}: installed ${done.version}${done.changed.length === 0 ? ' (nothing changed)' : ''}`)
    return done
  }
}
