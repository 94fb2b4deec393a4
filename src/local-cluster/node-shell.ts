import {randomBytes} from 'node:crypto'
import path from 'node:path'

import {BerthError, outputTail, UsageError} from '../errors.js'
import {type FileToWrite, notInMemory, tempPrefix, writeMarkerLast} from '../machine/files.js'
import {hostName, machineShells, type MachineChannel, type MachineShells, type RemoteProcess, STDERR_TAIL_LINES} from '../machine/shell.js'
import type {NodeProvider} from './provider.js'

/**
 * Writes stdin to a file atomically: a temp file beside the target, created 0600 (umask
 * 077, and `set -C` so an existing name is never reused), its mode set, synced, renamed
 * over the target; then old temps of interrupted writes of the same file are removed. The
 * data comes on stdin only; the arguments are names: target, mode, temp, dir, temp prefix,
 * the stale age in minutes.
 */
const WRITE_FILE = [
  'set -eu',
  'target=$1 mode=$2 tmp=$3 dir=$4',
  'umask 077',
  'mkdir -p "$dir"',
  'trap \'rm -f "$tmp"\' EXIT',
  'set -C',
  'cat > "$tmp"',
  'chmod "$mode" "$tmp"',
  // sync FILE where the sync in the node has it, else everything.
  'sync "$tmp" 2>/dev/null || sync',
  'mv -f "$tmp" "$target"',
  'trap - EXIT',
  'find "$dir" -maxdepth 1 -name "$5*" -mmin "+$6" -exec rm -f {} \\; 2>/dev/null || true',
].join('\n')

/** The login shell of a node: bash where it has it, else sh. */
const LOGIN_SHELL = 'if command -v bash >/dev/null 2>&1; then exec bash -l; fi; exec sh -l'

/**
 * A channel into one node by its id: each command runs as `docker exec <id> sh -c <command>`;
 * files are written by a `sh -c` that reads their bytes on stdin; streaming commands are
 * `docker exec -i [-t]`. `where` names the node in messages.
 */
export function nodeChannel(provider: Pick<NodeProvider, 'exec' | 'start'>, id: string, where = `node ${id.slice(0, 12)}`): MachineChannel {
  const running = new Set<RemoteProcess>()
  const writeFile = async (file: FileToWrite, staleMinutes: number): Promise<void> => {
    if (!path.posix.isAbsolute(file.path) || file.path.endsWith('/')) {
      throw new UsageError(`${where}: upload target must be an absolute file path, got ${JSON.stringify(file.path)}`)
    }
    const dir = path.posix.dirname(file.path)
    const tmp = `${dir}/${tempPrefix(file.path)}${randomBytes(6).toString('hex')}`
    const mode = (file.mode ?? 0o600).toString(8)
    const result = await provider.exec(id, ['sh', '-c', WRITE_FILE, 'sh', file.path, mode, tmp, dir, tempPrefix(file.path), String(staleMinutes)], {stdin: file.data})
    if (result.code !== 0) {
      throw new BerthError(`${where}: writing ${file.path} failed (exit ${result.code}): ${outputTail(result.stderr, STDERR_TAIL_LINES)}; the previous file is unchanged`)
    }
  }
  return {
    exec: (command, options) => provider.exec(id, ['sh', '-c', command], options),
    async writeFiles(files, options) {
      if (options.inMemory) {
        const mounts = await provider.exec(id, ['cat', '/proc/self/mounts'])
        if (mounts.code !== 0) throw new BerthError(`${where}: cannot read /proc/self/mounts to check that ${options.inMemory} is in memory: ${mounts.stderr.trim()}`)
        const refusal = notInMemory(where, mounts.stdout, options.inMemory)
        if (refusal) throw new BerthError(refusal)
      }
      const staleMinutes = Math.floor((options.staleTempAgeMs ?? 600_000) / 60_000)
      await writeMarkerLast(files, (file) => writeFile(file, staleMinutes), options.onFile)
    },
    async start(command, options) {
      const {pty} = options
      // Docker's API here cannot size the terminal before the command starts; stty does, first.
      const script = `${pty ? `stty rows ${Math.trunc(pty.rows)} cols ${Math.trunc(pty.cols)} 2>/dev/null; ` : ''}${command ?? LOGIN_SHELL}`
      const remote = await provider.start(id, ['sh', '-c', script], {pty})
      running.add(remote)
      void remote.exit.finally(() => running.delete(remote)).catch(() => undefined)
      return remote
    },
    async close() {
      // A command still streaming (a follow) is cut off: its next write ends it.
      for (const remote of running) remote.stdin.destroy()
      running.clear()
    },
  }
}

/**
 * The machines of a local cluster through its provider (`docker exec`), no SSH: each machine
 * is found among the cluster's nodes by name on its first command.
 */
export function nodeShells(provider: Pick<NodeProvider, 'exec' | 'start' | 'listNodes'>, cluster: string): MachineShells {
  return machineShells(async (machine) => {
    const node = (await provider.listNodes(cluster)).find((n) => n.machine === machine.name)
    if (!node) throw new BerthError(`${hostName(machine)}: no node of local cluster ${cluster} runs it`)
    return nodeChannel(provider, node.id, hostName(machine))
  })
}
