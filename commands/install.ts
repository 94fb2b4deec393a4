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
    '<%= config.bin %> install --dry-run',
  ]
  static override enableJsonFlag = true
  static override flags = {
    node: Flags.string({description: 'The node\'s first-boot description.', default: '/etc/berth/node.json'}),
    cluster: Flags.string({description: 'The cluster description upload-secrets wrote.', default: '/etc/berth/cluster.json'}),
    image: Flags.string({description: 'Install this agent image instead of the one cluster.json pins.'}),
    'unit-dir': Flags.string({description: 'Where systemd units go.', default: '/etc/systemd/system'}),
    'etc-dir': Flags.string({description: 'Where agent.json goes.', default: '/etc/berth'}),
    wait: Flags.integer({description: 'Seconds to wait for the agent\'s first pass.', default: 60}),
    'dry-run': Flags.boolean({description: 'Print what each step would do (files, images, etcd keys) and change nothing.'}),
  }

  async run(): Promise<InstallResult | {plan: string[]}> {
    const {flags} = await this.parse(Install)
    const [{installSteps, readInstallInputs}, {planOrRun}, {RecordStore}, {realNodeOps}] = await Promise.all([
      import('../src/provision/install.js'), import('../src/cli/progress.js'), import('../src/etcd/records.js'), import('../src/agent/node/node-ops.js'),
    ])
    const ops = realNodeOps()
    const request = {nodeFile: flags.node, clusterFile: flags.cluster, image: flags.image, etcDir: flags['etc-dir'], unitDir: flags['unit-dir'], agentWaitMs: flags.wait * 1000}
    const inputs = await readInstallInputs(request)
    this.log(`${inputs.node.machine} (${inputs.node.role}): ${flags['dry-run'] ? 'would install' : 'installing'} ${inputs.image}`)
    // The process's one etcd client: every step, preview, wait and the failure record use it.
    const records = await RecordStore.connect(inputs.node.etcdEndpoints)
    const {steps, result, recordFailure} = installSteps({
      ...request, ...inputs, records,
      systemctl: (args) => ops.systemctl(args),
    })
    const mode = this.jsonEnabled() ? 'silent' : 'plain'
    // The step that failed, for the failure's record in etcd.
    let current = ''
    const tracked = steps.map((s) => ({...s, run: () => {
      current = s.title
      return s.run()
    }}))
    try {
      const dry = await planOrRun({steps: tracked}, {dryRun: flags['dry-run'], mode, log: (t) => this.log(t)})
      if (dry) return dry
    } catch (error) {
      await recordFailure(error as Error, current)
      throw error
    } finally {
      records.close()
    }
    const done = result()
    this.log(`${done.machine}: installed ${done.version}${done.changed.length === 0 ? ' (nothing changed)' : ''}`)
    return done
  }
}
