import {mkdir, readFile} from 'node:fs/promises'
import path from 'node:path'

import type {Cluster, Machine} from '../config/types.js'
import {writeFileAtomic} from '../fsx.js'
import {stateRoot} from '../paths.js'

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
  const file = path.join(stateDir, 'hostkeys.json')
  const stored = await readFile(file, 'utf8').then((t) => JSON.parse(t) as Record<string, HostKey>, () => ({} as Record<string, HostKey>))
  const missing = machines.filter((m) => !stored[m.name])
  if (missing.length > 0) {
    const {default: ssh2} = await import('ssh2')
    for (const machine of missing) {
      const pair = ssh2.utils.generateKeyPairSync('ed25519', {comment: `root@${machine.name}`})
      stored[machine.name] = {private: pair.private, public: publicKeyOnly(pair.public)}
    }
    await mkdir(stateDir, {recursive: true, mode: 0o700})
    await writeFileAtomic(file, `${JSON.stringify(stored, null, 2)}\n`, 0o600)
  }
  return new Map(machines.map((m) => [m.name, stored[m.name] as HostKey]))
}

/** `ssh-ed25519 AAAA…` without the comment. */
export function publicKeyOnly(line: string): string {
  return line.trim().split(/\s+/).slice(0, 2).join(' ')
}

/** known_hosts lines naming each machine by name and address. */
export function knownHostsText(machines: Machine[], keys: Map<string, HostKey>): string {
  return machines.map((m) => `${m.name},${m.ip} ${keys.get(m.name)?.public ?? ''}\n`).join('')
}
