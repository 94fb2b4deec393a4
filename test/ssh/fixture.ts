import {mkdtempSync, rmSync} from 'node:fs'
import path from 'node:path'

import {connect, type ConnectOptions, type SshConnection} from '../../src/ssh/index.js'
import {sshTarget} from '../support/services.js'

/** Connects to the test sshd from services.sh with its real host key, unless overridden. */
export async function openTestConnection(overrides: Partial<ConnectOptions> = {}): Promise<SshConnection> {
  const t = sshTarget()
  return connect({
    host: t.host,
    port: t.port,
    username: t.username,
    privateKey: t.privateKey,
    knownHostKeys: [t.hostKey],
    timeoutMs: 5_000,
    ...overrides,
  })
}

/**
 * A fresh local directory for one test file; the test sshd runs on this machine, so what a
 * test writes over SSH can be checked on disk directly. Returns the path and a remover.
 */
export function scratchDir(name: string): {dir: string; remove: () => void} {
  const dir = mkdtempSync(path.join('/tmp', `berth-ssh-${name}-`))
  return {dir, remove: () => rmSync(dir, {recursive: true, force: true})}
}
