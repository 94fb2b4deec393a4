import {readFile} from 'node:fs/promises'
import path from 'node:path'

import {openerShells, shellOpener} from '../cluster/remote.js'
import type {Cluster, Machine} from '../config/types.js'
import {SEALED_SECRETS} from '../firstboot/model.js'
import type {KeyProvider} from '../secrets/envelope.js'
import type {MachineShell, MachineShells} from '../machine/shell.js'
import {nodeClusterFile} from '../firstboot/cluster-json.js'
import {ensureNodeSecrets, type SecretFile} from './node-secrets.js'
import {mapBounded} from './pool.js'
import {sealForMachine} from './sealed-secrets.js'
import {NODE_PATHS} from '../layout/node.js'

/**
 * `upload-secrets` for one machine and for many: through the machine seam over SSH with the host key berth
 * generated (a different key is refused before anything is sent), every secret written
 * atomically with mode 0600 into /etc/berth/secrets/ (a tmpfs), then the non-secret
 * cluster.json, and last the `uploaded` marker whose arrival starts the installer through
 * the path unit. Then the machine keeps a sealed copy for its next boots, as
 * `nodeSecrets.mode` says: sealed there by systemd-creds, or the KMS-sealed blobs made
 * here, or none. A machine that fails is reported with the step; the others go on.
 */

/** Where a node keeps berth's files. */
export const NODE_DIR = NODE_PATHS.config

/** How to reach and write the machines. */
export interface UploadOptions {
  identity: string
  stateDir: string
  /** At most this many machines at once. */
  parallel: number
  /** The installer image cluster.json pins (default: cluster.yaml's). */
  installerImage?: string
  /** Where to connect instead of the machine's IP, port 22 (tests and benches on loopback). */
  address?: (machine: Machine) => {host: string; port?: number}
  /** Prefix for every remote path, `{machine}` replaced by the machine's name (tests and benches write into scratch folders). */
  remoteRoot?: string
  timeoutMs?: number
  /** Called as a machine moves from step to step, for progress. */
  onStep?: (machine: string, step: string) => void
}

/** One machine's outcome: ok, or the step that failed and why (never a secret's value). */
export interface MachineUpload {
  machine: string
  ip: string
  ok: boolean
  step?: string
  error?: string
  seconds: number
}

/** What every machine's upload needs, made and read once for all of them. */
export interface PreparedUpload {
  cluster: Cluster
  /** Each machine's secret files (made where missing). */
  secrets: Map<string, SecretFile[]>
  clusterJson: string
  /**
   * A flow's machines over SSH, reached at `address` when given; the key and host keys are
   * read once for all. Each machine's upload is a flow of its own, closed when it ends, so
   * at most --parallel connections are open however many machines there are.
   */
  shells: (address?: UploadOptions['address']) => MachineShells
  /** A local file's bytes, each file read once however many machines get it (the master key, the token). */
  read: (local: string) => Promise<Buffer>
  /** The KMS key that seals node secrets here, with `nodeSecrets: {mode: kms}`. */
  kms?: KeyProvider
}

/** Makes any missing node secrets, renders cluster.json, and reads the provisioner's key and the host keys. */
export async function prepareUpload(cluster: Cluster, machines: readonly Machine[], options: Pick<UploadOptions, 'identity' | 'stateDir' | 'installerImage' | 'timeoutMs'>): Promise<PreparedUpload> {
  // The provisioner's key first: an unreadable one is bad usage, before anything is made.
  const open = await shellOpener(cluster, options)
  const secrets = await ensureNodeSecrets(cluster, machines, options.stateDir)
  const reads = new Map<string, Promise<Buffer>>()
  const read = (local: string) => {
    if (!reads.has(local)) reads.set(local, readFile(local))
    return reads.get(local)!
  }
  let kms: KeyProvider | undefined
  if (cluster.nodeSecrets.kms) {
    const {KmsKeyProvider} = await import('../secrets/kms.js')
    kms = new KmsKeyProvider(cluster.nodeSecrets.kms)
  }
  return {cluster, secrets, clusterJson: `${JSON.stringify(nodeClusterFile(cluster, options.installerImage), null, 2)}\n`, shells: (address) => openerShells(open, address), read, kms}
}

/** Makes any missing node secrets, then uploads to every machine with a bounded fan-out. */
export async function uploadSecrets(cluster: Cluster, machines: readonly Machine[], options: UploadOptions): Promise<MachineUpload[]> {
  const prepared = await prepareUpload(cluster, machines, options)
  return mapBounded(machines, options.parallel, (machine) => uploadToMachine(prepared, machine, options))
}

/** Uploads one machine's secrets, cluster.json and marker; never throws (the outcome says what failed). */
export async function uploadToMachine(prepared: PreparedUpload, machine: Machine, options: UploadOptions): Promise<MachineUpload> {
  const {cluster, clusterJson} = prepared
  const files = prepared.secrets.get(machine.name) ?? []
  const started = performance.now()
  const root = (options.remoteRoot ?? '').replaceAll('{machine}', machine.name).replace(/\/+$/, '')
  let step = 'connect'
  const machines = prepared.shells(options.address)
  const shell: MachineShell = machines.on(machine)
  const at = (s: string): void => {
    step = s
    options.onStep?.(machine.name, s)
  }
  try {
    at('connect')
    await shell.connect()
    const mode = cluster.nodeSecrets.mode
    const marker = {uploadedAt: new Date().toISOString(), files: files.map((f) => f.name), sealed: mode}
    const contents = await Promise.all(files.map(async (f) => ({name: f.name, data: await prepared.read(f.local)})))
    const uploads = [
      ...contents.map((f) => ({path: `${root}${NODE_DIR}/secrets/${f.name}`, data: f.data, mode: 0o600})),
      {path: `${root}${NODE_DIR}/cluster.json`, data: clusterJson, mode: 0o644},
      ...await kmsSealed(prepared, machine, contents, `${root}${SEALED_SECRETS.dir}`, at),
      // Last: the path unit starts the installer when this appears, so everything else is there.
      {path: `${root}${NODE_DIR}/secrets/uploaded`, data: `${JSON.stringify(marker)}\n`, mode: 0o600},
    ]
    // One SFTP session for all of them; each file is still replaced atomically on its own.
    // They go at once, so the step names every file still in flight.
    const inFlight = new Set<string>()
    const label = (p: string) => p.startsWith(`${root}${SEALED_SECRETS.dir}/`)
      ? `sealed ${path.posix.basename(p)}`
      : p.slice(root.length + NODE_DIR.length + 1).replace(/^secrets\/(?!uploaded)/, '').replace('secrets/uploaded', 'the uploaded marker')
    // Node secrets live in memory only: the first-boot files mount a tmpfs there, and
    // nothing is written if it is not one (tests mount one in their scratch folders too).
    const inMemory = `${root}${NODE_DIR}/secrets`
    at(`check that ${inMemory} is in memory`)
    await shell.writeFiles(uploads, {
      inMemory,
      onFile: (p, state) => {
        if (state === 'start') inFlight.add(label(p))
        else inFlight.delete(label(p))
        if (inFlight.size > 0) at(`upload ${[...inFlight].join(', ')}`)
      },
    })
    if (!options.remoteRoot) {
      // A copy for the next boots: sealed on the machine, where its TPM2 or host key is
      // (systemd-creds), or the KMS blobs just sent are kept; in memory mode any old copy goes.
      at(`seal for the next boots (${mode})`)
      await shell.run(`${SEALED_SECRETS.script} seal ${mode}`)
      // The path unit may not be watching yet (first boot still running): start the installer
      // too; systemd merges this with a start the path unit makes. First boot covers the
      // other order (its runcmd starts the installer when the marker is already there).
      // A nudge only: the path unit and first boot start it too, so a failure here is no failure.
      await shell.exec(`systemctl start --no-block ${cluster.unitPrefix}installer.service`).catch(() => undefined)
    }
    return {machine: machine.name, ip: machine.ip, ok: true, seconds: seconds(started)}
  } catch (error) {
    return {machine: machine.name, ip: machine.ip, ok: false, step, error: (error as Error).message, seconds: seconds(started)}
  } finally {
    await machines.close().catch(() => undefined)
  }
}

/** With mode kms, the machine's secrets sealed here with KMS, and kms.json, for its sealed folder. */
async function kmsSealed(prepared: PreparedUpload, machine: Machine, contents: {name: string; data: Buffer}[], dir: string, at: (step: string) => void): Promise<{path: string; data: Buffer | string; mode: number}[]> {
  const key = prepared.cluster.nodeSecrets.kms
  if (!prepared.kms || !key) return []
  at(`seal with KMS key ${key.keyId}`)
  const sealed = await sealForMachine(prepared.kms, prepared.cluster.name, machine.name, contents)
  const kmsFile = {...key, cluster: prepared.cluster.name, machine: machine.name}
  return [
    ...sealed.map((s) => ({path: `${dir}/${s.name}`, data: s.data, mode: 0o600})),
    {path: `${dir}/kms.json`, data: `${JSON.stringify(kmsFile, null, 2)}\n`, mode: 0o600},
  ]
}

function seconds(started: number): number {
  return Math.round(performance.now() - started) / 1000
}
