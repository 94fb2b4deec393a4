import {mkdir, readFile} from 'node:fs/promises'
import path from 'node:path'

import type {Cluster, Machine} from '../config/types.js'
import {UsageError} from '../errors.js'
import {writeFileAtomic} from '../fsx.js'
import {stateRoot} from '../paths.js'
import {generateEd25519} from '../ssh/keygen.js'

/** An ed25519 host key pair in OpenSSH format. */
export interface HostKey {
  private: string
  public: string
}

/** The folder (mode 0700) where berth remembers one cluster's host keys and known_hosts. */
export function clusterStateDir(cluster: Pick<Cluster, 'name'>, root = stateRoot()): string {
  return path.join(root, 'clusters', cluster.name)
}

/**
 * Returns every machine's host key, generating the missing ones and remembering them
 * (hostkeys.json, mode 0600), so first-boot files and known_hosts agree across runs and
 * berth verifies each node from its first contact.
 */
export async function ensureHostKeys(stateDir: string, machines: Machine[]): Promise<Map<string, HostKey>> {
  const stored = await storedKeys(stateDir)
  const missing = machines.filter((m) => !stored[m.name])
  if (missing.length > 0) {
    for (const machine of missing) {
      const pair = generateEd25519(`root@${machine.name}`)
      stored[machine.name] = {private: pair.private, public: publicKeyOnly(pair.public)}
    }
    await mkdir(stateDir, {recursive: true, mode: 0o700})
    await writeFileAtomic(path.join(stateDir, 'hostkeys.json'), `${JSON.stringify(stored, null, 2)}\n`, 0o600)
  }
  return new Map(machines.map((m) => [m.name, stored[m.name] as HostKey]))
}

/** Every host key remembered in a state dir, by machine name. */
async function storedKeys(stateDir: string): Promise<Record<string, HostKey>> {
  const text = await readFile(path.join(stateDir, 'hostkeys.json'), 'utf8').catch(() => '{}')
  return JSON.parse(text) as Record<string, HostKey>
}

/** The public host keys berth generated, read once; `of` is a usage error for a machine it never made one for. */
export async function knownHostKeys(stateDir: string): Promise<{of: (machine: Pick<Machine, 'name'>) => string}> {
  const stored = await storedKeys(stateDir)
  return {
    of(machine) {
      const key = stored[machine.name]?.public
      if (!key) throw new UsageError([{path: machine.name, message: `berth has no host key for it in ${stateDir}`, fix: 'write its first-boot file with this state dir (`berth cluster new-cloud-config`); berth never trusts a host key on first use'}])
      return key
    },
  }
}

/** `ssh-ed25519 AAAA…` without the comment. */
export function publicKeyOnly(line: string): string {
  return line.trim().split(/\s+/).slice(0, 2).join(' ')
}

/** known_hosts lines naming each machine by name and address. */
export function knownHostsText(machines: Machine[], keys: Map<string, HostKey>): string {
  return machines.map((m) => `${m.name},${m.ip} ${keys.get(m.name)?.public ?? ''}\n`).join('')
}
