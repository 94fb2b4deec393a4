import path from 'node:path'

import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {planOrRun} from '../../src/cli/progress.js'
import {resolveTarget, targetFlags} from '../../src/provision/target.js'
import {backupSteps, defaultBackupFile} from '../../src/recovery/backup.js'
import type {SnapshotMeta} from '../../src/recovery/snapshot-file.js'

export default class Backup extends BerthCommand {
  static override summary = 'Write a snapshot of the cluster\'s etcd to a file, with its revision, members and checksum.'
  static override description = `Streams a snapshot through etcd's maintenance API from the first main machine that answers and writes it as one file (a line naming the format, a line of JSON metadata: cluster, etcd cluster id, revision, members, sha256 of the database, berth version; then etcd's database), atomically and with mode 0600. Service secrets in etcd are sealed, so the file holds no clear secret. \`cluster restore FILE\` brings it back when every member is lost.`
  static override examples = [
    '<%= config.bin %> cluster backup',
    '<%= config.bin %> cluster backup --out /srv/backups/prod.snapshot --json',
    '<%= config.bin %> cluster backup --local-cluster demo --dry-run',
  ]
  static override enableJsonFlag = true
  static override flags = {
    ...targetFlags,
    out: Flags.string({char: 'o', description: 'Snapshot file to write (default: <cluster>-etcd-<time>.snapshot here).'}),
    'dry-run': Flags.boolean({description: 'Print the plan and change nothing.'}),
  }

  async run(): Promise<(SnapshotMeta & {file: string}) | {plan: string[]}> {
    const {flags} = await this.parse(Backup)
    const {cluster} = await resolveTarget(flags)
    const out = flags.out ? path.resolve(flags.out) : defaultBackupFile(cluster)
    const plan = backupSteps({cluster, out})
    const dry = await planOrRun(plan, {dryRun: flags['dry-run'], mode: this.jsonEnabled() ? 'silent' : 'auto', log: (t) => this.log(t)})
    if (dry) return dry
    const {meta, file} = plan.result()
    this.log(`${file}: revision ${meta.revision} of cluster ${cluster.name}`)
    return {file, ...meta}
  }
}
