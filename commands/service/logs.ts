import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {BerthError} from '../../src/errors.js'
import {clusterView, opsFlags, opsTarget} from '../../src/ops/cluster.js'
import {type LogLine, streamLogs} from '../../src/ops/logs.js'
import {filterReplicas, serviceReplicas} from '../../src/ops/select.js'

export default class ServiceLogs extends BerthCommand {
  static override summary = 'Print the output of every replica of a service, merged by time, each line prefixed by machine and replica.'
  static override description = 'Reads the journal of each replica\'s unit on its machine over SSH (host keys verified). The backlog of all replicas is merged by time; with --follow, new lines are printed as they are written. A machine that cannot be reached, or goes away while following, is named once on stderr and the others go on; the exit code is then 1.'
  static override examples = [
    '<%= config.bin %> service logs web',
    '<%= config.bin %> service logs web -f --tail 20',
    '<%= config.bin %> service logs web --since "-1h" --machine main-2',
    '<%= config.bin %> service logs web --replica web.main-1 --json --local-cluster demo',
  ]
  static override args = {service: Args.string({description: 'Service name.', required: true})}
  static override flags = {
    ...opsFlags,
    follow: Flags.boolean({char: 'f', description: 'Keep printing new lines as they are written (stop with Ctrl-C).'}),
    since: Flags.string({description: 'Only lines since then, in journalctl\'s syntax: "2026-12-01 10:00", "-1h", "today".'}),
    tail: Flags.integer({char: 'n', description: 'Only the last N lines of the merged output (then follow on, with -f).', min: 0}),
    machine: Flags.string({char: 'm', description: 'Only the replicas on this machine (repeatable).', multiple: true}),
    replica: Flags.string({char: 'r', description: 'Only this replica, like web.main-1 (repeatable).', multiple: true}),
    json: Flags.boolean({description: 'One JSON object per line: time, machine, replica, service, message.'}),
  }

  async run(): Promise<void> {
    const {args, flags} = await this.parse(ServiceLogs)
    const target = await opsTarget(flags)
    const replicas = filterReplicas(target.cluster, serviceReplicas(target.cluster, await clusterView(target, flags.etcd), args.service), flags)
    const width = Math.max(0, ...replicas.map((r) => `${r.machine.name} ${r.id}`.length))
    const render = flags.json ? jsonLine : (l: LogLine) => `${`${l.machine} ${l.replica}`.padEnd(width)} | ${l.message}\n`
    const {failed} = await streamLogs(replicas, target.machines, {follow: flags.follow, since: flags.since, tail: flags.tail}, {
      line: (l) => process.stdout.write(render(l)),
      unreachable: (machine, reason) => process.stderr.write(`berth: ${machine}: no logs from it: ${reason}\n`),
    }).finally(() => target.machines.close())
    if (failed.length > 0) throw new BerthError(`no logs from ${failed.join(', ')} (named above); the other machines' are printed`)
  }
}

function jsonLine(l: LogLine): string {
  return `${JSON.stringify({time: new Date(l.atUs / 1000).toISOString(), machine: l.machine, replica: l.replica, service: l.service, message: l.message})}\n`
}
