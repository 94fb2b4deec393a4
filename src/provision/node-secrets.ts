import {randomBytes} from 'node:crypto'
import {chmod, mkdir, mkdtemp, readFile, rename, rm} from 'node:fs/promises'
import path from 'node:path'

import type {Cluster, Machine} from '../config/types.js'
import {BerthError, outputTail} from '../errors.js'
import {exists, writeFileAtomic} from '../fsx.js'
import {clusterStateDir} from '../firstboot/hostkeys.js'
import {createMasterKey} from '../secrets/local-key.js'

/**
 * Node secrets, made once per cluster on the provisioner and kept in berth's state dir
 * (`<state>/secrets/`, 0700; files 0600): the master key and the admin token shared by
 * every node, and one self-signed TLS pair per machine for its admin API. No secret is
 * ever on a command line: openssl reads and writes files, the rest is written from here.
 */

/** One file to put into a machine's /etc/berth/secrets/: its name and where it lies here. */
export interface SecretFile {
  name: 'master.key' | 'api-token' | 'api.crt' | 'api.key'
  local: string
}

/** The folder of a cluster's node secrets. */
export function secretsDir(stateDir: string): string {
  return path.join(stateDir, 'secrets')
}

/** Makes the cluster-wide secrets and each machine's TLS pair where missing; returns each machine's files. */
export async function ensureNodeSecrets(cluster: Cluster, machines: readonly Machine[], stateDir = clusterStateDir(cluster)): Promise<Map<string, SecretFile[]>> {
  const dir = secretsDir(stateDir)
  await mkdir(dir, {recursive: true, mode: 0o700})
  await chmod(dir, 0o700)
  const masterKey = path.join(dir, 'master.key')
  if (!(await exists(masterKey))) await createMasterKey(masterKey)
  const token = path.join(dir, 'api-token')
  // 32 random bytes as base64url: one line, no spaces, what readToken accepts.
  if (!(await exists(token))) await writeFileAtomic(token, `${randomBytes(32).toString('base64url')}\n`, 0o600)
  const result = new Map<string, SecretFile[]>()
  for (const machine of machines) {
    const tls = await ensureTls(path.join(dir, 'machines', machine.name), machine)
    result.set(machine.name, [{name: 'master.key', local: masterKey}, {name: 'api-token', local: token}, {name: 'api.crt', local: tls.crt}, {name: 'api.key', local: tls.key}])
  }
  return result
}

/** The subjectAltName a machine's admin API certificate must carry. */
export function subjectAltName(machine: Pick<Machine, 'name' | 'ip'>): string {
  return `IP:${machine.ip},DNS:${machine.name}`
}

/** A self-signed P-256 certificate for the machine, made again when its name or address changed. */
async function ensureTls(dir: string, machine: Machine): Promise<{crt: string; key: string}> {
  const crt = path.join(dir, 'api.crt')
  const key = path.join(dir, 'api.key')
  const sanFile = path.join(dir, 'api.san')
  const san = subjectAltName(machine)
  const current = await readFile(sanFile, 'utf8').catch(() => '')
  if (current.trim() === san && (await exists(crt)) && (await exists(key))) return {crt, key}
  await mkdir(dir, {recursive: true, mode: 0o700})
  // openssl writes into a private temp folder; the pair is moved in only when both exist.
  const tmp = await mkdtemp(path.join(dir, '.new-'))
  try {
    const {execa} = await import('execa')
    const result = await execa('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '3650',
      '-subj', `/CN=berth-agent ${machine.name}`, '-addext', `subjectAltName=${san}`,
      '-keyout', path.join(tmp, 'api.key'), '-out', path.join(tmp, 'api.crt')], {reject: false, all: true})
    if (result.exitCode !== 0) throw new BerthError(`openssl could not make ${machine.name}'s admin API certificate: ${outputTail(result.all, 3, ' ')}`)
    await chmod(path.join(tmp, 'api.key'), 0o600)
    await chmod(path.join(tmp, 'api.crt'), 0o600)
    await rename(path.join(tmp, 'api.key'), key)
    await rename(path.join(tmp, 'api.crt'), crt)
    await writeFileAtomic(sanFile, `${san}\n`, 0o600)
  } finally {
    await rm(tmp, {recursive: true, force: true})
  }
  return {crt, key}
}
