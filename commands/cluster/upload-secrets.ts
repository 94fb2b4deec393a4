import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {BerthCommand} from '../../src/cli/base.js'
import {parallelUploadsFlag} from '../../src/cli/flags.js'
import {BerthError, UsageError} from '../../src/errors.js'
import {resolveTarget, selectMachines, targetFlags} from '../../src/provision/target.js'
import type {MachineUpload} from '../../src/provision/upload.js'

export default class UploadSecrets extends BerthCommand {
  static override summary = 'Upload node secrets to machines over SSH; their arrival starts the installer.'
  static override description = `Makes the node secrets once per cluster in berth's state dir (master key, admin API token, a TLS pair per machine), then connects to each machine with the host key berth generated for it (any other key is refused) and writes each file atomically with mode 0600 into /etc/berth/secrets/ (a tmpfs the first-boot file mounts; nothing is written if it is not one, and after a reboot it is empty until this runs again), then /etc/berth/cluster.json, and last the "uploaded" marker that starts the installer. Machines are done in parallel (--parallel); an interrupted upload leaves the previous files intact. Exits 1 when any machine failed, naming it and the step.`
  static override aliases = ['cluster:upload_secrets']
  static override examples = [
    '<%= config.bin %> cluster upload-secrets',
    '<%= config.bin %> cluster upload-secrets main-2 10.0.0.21 --parallel 2',
    '<%= config.bin %> cluster upload_secrets --local-cluster demo --json',
  ]
  static override enableJsonFlag = true
  static override strict = false
  static override args = {machines: Args.string({description: 'Machines (names or IPs); all of them when none is named.'})}
  static override flags = {
    ...targetFlags,
    parallel: parallelUploadsFlag,
    'installer-image': Flags.string({description: 'Installer image cluster.json pins (default: cluster.yaml\'s installer.image).'}),
    timeout: Flags.integer({description: 'Seconds to wait for each SSH handshake.', default: 10}),
    'remote-root': Flags.string({description: 'Prefix for remote paths (tests).', hidden: true}),
    'ssh-address': Flags.string({description: 'HOST:PORT to reach every machine at instead of its IP (tests on loopback).', hidden: true}),
  }

  async run(): Promise<{ok: boolean; machines: MachineUpload[]}> {
    const {argv, flags} = await this.parse(UploadSecrets)
    const target = await resolveTarget(flags)
    const machines = selectMachines(target.cluster, argv as string[])
    const {prepareUpload, uploadToMachine} = await import('../../src/provision/upload.js')
    const {runConcurrent} = await import('../../src/cli/progress.js')
    const options = {
      identity: target.identity, stateDir: target.stateDir, parallel: flags.parallel, installerImage: flags['installer-image'],
      timeoutMs: flags.timeout * 1000, remoteRoot: flags['remote-root'],
      address: flags['ssh-address'] ? () => ({host: flags['ssh-address']!.replace(/:\d+$/, ''), port: Number(flags['ssh-address']!.split(':').at(-1))}) : undefined,
    }
    if (machines.length === 0) throw new UsageError([{path: 'machines', message: 'the cluster has none'}])
    const prepared = await prepareUpload(target.cluster, machines, options)
    const outcomes: MachineUpload[] = []
    // listr's concurrency is the bounded fan-out: at most --parallel machines at once.
    await runConcurrent(machines.map((m) => ({
      title: `${m.name} (${m.ip})`,
      run: async () => {
        const outcome = await uploadToMachine(prepared, m, options)
        outcomes.push(outcome)
        if (!outcome.ok) throw new BerthError(`${outcome.step} failed: ${outcome.error}`)
        return `uploaded in ${outcome.seconds.toFixed(1)} s`
      },
    })), flags.parallel, this.jsonEnabled() ? 'silent' : 'auto')
    const ordered = machines.map((m) => outcomes.find((o) => o.machine === m.name)!)
    const failed = ordered.filter((o) => !o.ok)
    if (!this.jsonEnabled()) {
      this.log(`${ordered.length - failed.length} of ${ordered.length} machines have their secrets${failed.length === 0 ? '; the installer starts on each' : ''}.`)
      for (const f of failed) process.stderr.write(`berth: ${f.machine} (${f.ip}): ${f.step} failed: ${f.error}\n`)
    }
    // Exit 1 with the whole outcome (in --json too): a failed machine is not bad usage.
    if (failed.length > 0) process.exitCode = 1
    return {ok: failed.length === 0, machines: ordered}
  }
}
