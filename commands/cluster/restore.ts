import path from 'node:path'

import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {planOrRun} from '../../src/cli/progress.js'
import {sshShells} from '../../src/cluster/remote.js'
import {resolveTarget, targetFlags} from '../../src/provision/target.js'
import {restoreSteps, restoreToken} from '../../src/recovery/restore.js'
import type {SnapshotMeta} from '../../src/recovery/snapshot-file.js'

export default class Restore extends BerthCommand {
  static override summary = 'Rebuild the etcd cluster on the main machines from a snapshot, when every member is down or its data lost.'
  static override description = `Checks FILE whole (format, size, sha256, taken from this cluster) and that no member still answers with a leader, before anything is stopped: a bad file or a working cluster is refused with exit 2 (--force restores over a working cluster). Then uploads the snapshot to every main machine over SSH (host keys verified), stops etcd there, restores it with \`etcdctl snapshot restore\` into a fresh data dir under a new initial-cluster token (the old dir is kept as <dir>.before-restore), and starts the members as a new cluster. Agents reconnect by themselves and converge to the restored desired state. For one lost member use \`cluster repair-member\`.`
  static override examples = [
    '<%= config.bin %> cluster restore prod-etcd-2026-12-01T20-00-00-000Z.snapshot',
    '<%= config.bin %> cluster restore backup.snapshot --local-cluster demo --dry-run',
    '<%= config.bin %> cluster restore backup.snapshot --force --json',
  ]
  static override enableJsonFlag = true
  static override args = {file: Args.string({description: 'Snapshot file written by `cluster backup` or by the agents\' scheduled snapshots.', required: true})}
  static override flags = {
    ...targetFlags,
    force: Flags.boolean({description: 'Restore even though etcd members still answer with a leader (their data is discarded).'}),
    timeout: Flags.integer({description: 'Seconds to wait for the restored members to be healthy.', default: 60, min: 1}),
    'dry-run': Flags.boolean({description: 'Print the plan and change nothing.'}),
  }

  async run(): Promise<{restored: string; token: string; meta: SnapshotMeta} | {plan: string[]}> {
    const {args, flags} = await this.parse(Restore)
    const target = await resolveTarget(flags)
    const token = restoreToken(target.cluster)
    const machines = sshShells(target.cluster, {identity: target.identity, stateDir: target.stateDir})
    const {steps, result} = restoreSteps({
      cluster: target.cluster,
      file: path.resolve(args.file),
      force: flags.force,
      token,
      machines,
      timeoutMs: flags.timeout * 1000,
      warn: (message) => this.warn(message),
    })
    const dry = await planOrRun({steps, close: () => machines.close()}, {dryRun: flags['dry-run'], mode: this.jsonEnabled() ? 'silent' : 'auto', log: (t) => this.log(t)})
    if (dry) return dry
    return {restored: path.resolve(args.file), token, meta: result().meta}
  }
}
