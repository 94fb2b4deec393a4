import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../src/cli/base.js'
import {apiFlags} from '../src/access/cluster-access.js'
import {auditTable, parseSince, type AuditEntry} from '../src/audit/entry.js'
import {UsageError} from '../src/errors.js'

export default class Audit extends BerthCommand {
  static override summary = 'Show who changed what in the cluster: when, from where, and the spec hash before and after.'
  static override description = `Every change made through the admin API or the CLI is in the trail: services deployed and removed, secrets set and deleted (by name only), machines added, removed and upgraded. Oldest first. From cluster.yaml (or --local-cluster) it reads the cluster's etcd; with --url and --token-file it asks an agent's admin API (GET /v1/audit), which is how a single host's PostgreSQL or file store is read. FROM shows the address the agent saw, and the host and user the CLI claimed.`
  static override examples = [
    '<%= config.bin %> audit',
    '<%= config.bin %> audit --local-cluster demo --since 2h',
    '<%= config.bin %> audit -c cluster.yaml --service web --since 2026-12-01',
    '<%= config.bin %> audit --since 7d --json',
    '<%= config.bin %> audit --url https://10.0.0.11:8443 --token-file ~/.berth/token --ca agent.crt --since 90m',
  ]
  static override enableJsonFlag = true
  static override flags = {
    ...apiFlags,
    since: Flags.string({description: 'Only entries since a duration ago (90m, 12h, 7d, 2w) or a time (2026-12-01, 2026-12-01T08:00:00Z; UTC unless a zone is given).'}),
    service: Flags.string({description: 'Only the changes of this service.'}),
  }

  async run(): Promise<{entries: AuditEntry[]}> {
    const {flags} = await this.parse(Audit)
    const since = flags.since === undefined ? undefined : parseSince(flags.since)
    if (flags.service !== undefined) {
      const {serviceNameProblem} = await import('../src/spec/service.js')
      const problem = serviceNameProblem(flags.service, {path: '--service'})
      if (problem) throw new UsageError([problem])
    }
    const {readAudit} = await import('../src/access/audit-read.js')
    const entries = await readAudit(await this.source(flags), {since, service: flags.service})
    for (const line of auditTable(entries)) this.log(line)
    return {entries}
  }

  private async source(flags: {url?: string; 'token-file'?: string; ca?: string; 'insecure-skip-verify'?: boolean; config: string; 'state-dir'?: string; 'local-cluster'?: string}) {
    if (flags.url !== undefined) {
      const {apiClient} = await import('../src/access/cluster-access.js')
      return {api: await apiClient(flags)}
    }
    const {resolveTarget} = await import('../src/provision/target.js')
    return {cluster: (await resolveTarget(flags)).cluster}
  }
}
