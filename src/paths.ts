import {homedir} from 'node:os'
import path from 'node:path'
import {fileURLToPath} from 'node:url'

/** The package root: dist/src/paths.js sits two levels below it, as src/paths.ts does. */
export const packageRoot = fileURLToPath(new URL('../../', import.meta.url))

/** A file shipped with berth (templates, schemas, image build contexts). */
export function shipped(...parts: string[]): string {
  return path.join(packageRoot, ...parts)
}

/**
 * Where berth keeps what it must remember between runs (generated SSH host keys, the
 * local cluster's records): `BERTH_STATE_DIR`, else `$XDG_STATE_HOME/berth`, else
 * `~/.local/state/berth`. Created with mode 0700 by its users.
 */
export function stateRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BERTH_STATE_DIR) return path.resolve(env.BERTH_STATE_DIR)
  const xdg = env.XDG_STATE_HOME || path.join(homedir(), '.local', 'state')
  return path.join(xdg, 'berth')
}
