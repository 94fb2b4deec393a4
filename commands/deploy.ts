import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import type {ApiClient} from '../src/access/api-client.js'
import {BerthCommand} from '../src/cli/base.js'
import {apiClient, apiFlags} from '../src/access/cluster-access.js'
import type {DeployDone} from '../src/deploy/deploy.js'
import type {RolloutOutcome} from '../src/deploy/rollout.js'
import type {ServiceImage} from '../src/images/services.js'

type DeployResult = {ok: boolean; images: ServiceImage[]; services: Array<{service: string; image: string; changed: boolean; outcome: 'unchanged' | 'sent' | 'active' | 'failed'; machines?: RolloutOutcome['machines']}>}

export default class Deploy extends BerthCommand {
  static override summary = 'Build, push and roll out cluster.yaml\'s services: every one whose spec differs from the stored one.'
  static override description = `For each service (all of cluster.yaml's when none is named): builds its image when it has build (tagged by the content hash of its context, Dockerfile and args; built only when changed), pushes it to the cluster's registry unless the registry has it, and PUTs the spec (image set to the built tag, build left out) through the admin API when it differs from the stored spec. Then waits until every machine that runs a changed service has it active after the change, and ends with each service's outcome: exit code 1 when any machine did not get there within --timeout, naming the machine and why. --detach returns right after the PUT.`
  static override examples = [
    '<%= config.bin %> deploy -c cluster.yaml',
    '<%= config.bin %> deploy web --local-cluster demo',
    '<%= config.bin %> deploy --detach --json',
    '<%= config.bin %> deploy --dry-run',
  ]
  static override enableJsonFlag = true
  static override strict = false
  static override args = {services: Args.string({description: 'Services of cluster.yaml to deploy (default: every one).'})}
  static override flags = {
    ...apiFlags,
    timeout: Flags.integer({description: 'Seconds to wait for every machine to run the changed services.', default: 120, min: 1}),
    detach: Flags.boolean({description: 'Return right after the specs are sent, without waiting for the machines.'}),
    'dry-run': Flags.boolean({description: 'Print the plan (the images it would build and push, the services that changed) and change nothing.'}),
  }

  async run(): Promise<DeployResult | {plan: string[]}> {
    const {argv, flags} = await this.parse(Deploy)
    const [{resolveTarget}, {deployPlan, selectServices}, {planOrRun}] = await Promise.all([
      import('../src/provision/target.js'), import('../src/deploy/deploy.js'), import('../src/cli/progress.js'),
    ])
    const {cluster} = await resolveTarget(flags)
    const services = selectServices(cluster, argv as string[])
    const push = {registry: cluster.registry.url, insecure: cluster.registry.insecure, viaNode: await this.viaNode(flags)}
    let client: Promise<ApiClient> | undefined
    const plan = deployPlan({cluster, services, push, client: () => (client ??= apiClient(flags)), detach: flags.detach, timeoutMs: flags.timeout * 1000})
    const dry = await planOrRun(plan, {dryRun: flags['dry-run'], mode: this.jsonEnabled() ? 'silent' : 'auto', log: (t) => this.log(t)})
    if (dry) return dry
    const result = this.outcome(plan.result(), flags.detach)
    this.report(result)
    if (!result.ok) {
      if (this.jsonEnabled()) this.logJson(result)
      this.exit(1)
    }
    return result
  }

  private outcome(done: DeployDone, detached: boolean): DeployResult {
    const services = [...done.desired].map(([service, spec]) => {
      const changed = done.changed.has(service)
      const rolled = done.outcomes.find((o) => o.service === service)
      const outcome = !changed ? 'unchanged' as const : detached || !rolled ? 'sent' as const : rolled.ok ? 'active' as const : 'failed' as const
      return {service, image: spec.image, changed, outcome, ...(rolled ? {machines: rolled.machines} : {})}
    })
    return {ok: services.every((s) => s.outcome !== 'failed'), images: done.images, services}
  }

  private report(result: DeployResult): void {
    for (const s of result.services) {
      const where = s.machines?.map((m) => m.ok ? m.machine : `${m.machine} (${m.reason})`).join(', ')
      const line = `${s.service}: ${s.outcome}${s.outcome === 'active' ? ` on ${where}` : ''} (${s.image})`
      if (s.outcome === 'failed') process.stderr.write(`berth: ${line}; not done on: ${s.machines?.filter((m) => !m.ok).map((m) => `${m.machine}: ${m.reason}`).join('; ')}\n`)
      else this.log(line)
    }
  }

  /** A local cluster's first running node, for pushes the host's dockerd refuses. */
  private async viaNode(flags: {'local-cluster'?: string; 'state-dir'?: string}): Promise<string | undefined> {
    if (!flags['local-cluster']) return undefined
    const {openLocal} = await import('../src/local-cluster/context.js')
    const local = await openLocal({name: flags['local-cluster'], 'state-dir': flags['state-dir']})
    return (await local.provider.listNodes(local.record.name)).find((n) => n.state === 'running')?.id
  }
}
