import type Dockerode from 'dockerode'

import {BerthError} from '../../errors.js'
import type {ObservedContainer} from '../plan/reconcile.js'

/** A berth container as Docker lists it, with the image it runs (for the admin API). */
export interface NodeContainer extends ObservedContainer {
  image: string
}

/**
 * The agent's two hands on a node, systemd and Docker, behind one small interface: the real
 * one runs `systemctl` (through /run/systemd, with the host's PID namespace when the agent
 * is a container) and talks to dockerd over its socket; the loop's tests pass a fake.
 */

/** A unit's state in systemd, as observe reads it. */
export interface UnitState {
  activeState: string
  /** `auto-restart` while systemd waits to start a failed service again. */
  subState?: string
  needsReload: boolean
  /** systemd's LoadState: `not-found` for a unit it holds no copy of. */
  loadState?: string
  /** systemd's NRestarts: automatic restarts since the unit was last started by hand (for metrics). */
  restarts?: number
}

/** What the agent does to a node. */
export interface NodeOps {
  /** States of the named units, and of the units systemd holds that match the glob `loaded`, in one `systemctl show` call. */
  unitStates(units: readonly string[], loaded?: string): Promise<Map<string, UnitState>>
  /** Runs one systemctl command (`start UNIT`, `daemon-reload`); throws with its stderr. */
  systemctl(args: readonly string[]): Promise<void>
  /** Containers labelled `berth.managed=true`, running or not. */
  containers(): Promise<NodeContainer[]>
  removeContainer(id: string): Promise<void>
  /** Makes sure the image is on the node, pulling it (with `auth`, when given) when it is not; throws why it cannot be. */
  ensureImage(ref: string, auth?: RegistryAuth): Promise<void>
}

/**
 * A Docker registry auth object, as Docker's X-Registry-Auth header carries it; passed to
 * dockerd in that header of the one pull, never on a command line or in a file.
 */
export interface RegistryAuth {
  username?: string
  password?: string
  serveraddress?: string
  email?: string
  identitytoken?: string
}

/** A systemctl command that failed: the command, its exit code and stderr. */
export class SystemctlError extends BerthError {}

// A start returns once ExecStartPre is done and ExecStart forked; past this, something hangs.
const systemctlTimeoutMs = 120_000
// Pulls are bounded by the unit's own TimeoutStartSec when systemd does them; so here.
const pullTimeoutMs = 900_000

/**
 * Where the node's systemd and dockerd are, when not where the agent runs: the command that
 * runs systemctl there (`docker exec NODE systemctl`) and dockerd's socket. The agent on its
 * node uses the defaults; the loop's real-node tests reach a node container from outside.
 */
export interface NodeReach {
  /** The command and first words that run systemctl on the node (default `systemctl`). */
  systemctl?: readonly [string, ...string[]]
  /** dockerd's socket (default dockerode's, /var/run/docker.sock). */
  dockerSocket?: string
}

/** The real node: systemctl through execa, dockerd through dockerode (both loaded on first use). */
export function realNodeOps(reach: NodeReach = {}): NodeOps {
  let docker: Promise<Dockerode> | undefined
  const connect = (): Promise<Dockerode> => (docker ??= import('dockerode').then(({default: Docker}) => new Docker(reach.dockerSocket === undefined ? undefined : {socketPath: reach.dockerSocket})))
  const [command, ...first] = reach.systemctl ?? ['systemctl']
  const systemctl = async (args: readonly string[]): Promise<string> => {
    const {execa} = await import('execa')
    const result = await execa(command, [...first, ...args], {reject: false, timeout: systemctlTimeoutMs})
    if (result.exitCode !== 0) {
      const why = result.timedOut ? `timed out after ${systemctlTimeoutMs / 1000} s` : `exited with ${result.exitCode ?? result.signal}`
      throw new SystemctlError(`systemctl ${args.join(' ')} ${why}${result.stderr.trim() ? `: ${result.stderr.trim()}` : ''}`)
    }
    return result.stdout
  }
  return {
    async unitStates(units, loaded) {
      if (units.length === 0 && loaded === undefined) return new Map()
      // systemctl expands a glob to the units systemd holds in memory, whether or not their file is there.
      const out = await systemctl(['show', '-p', 'Id', '-p', 'LoadState', '-p', 'ActiveState', '-p', 'SubState', '-p', 'NeedDaemonReload', '-p', 'NRestarts', '--', ...units, ...(loaded === undefined ? [] : [loaded])])
      return parseShow(out, units)
    },
    async systemctl(args) {
      await systemctl(args)
    },
    async containers() {
      const list = await (await connect()).listContainers({all: true, filters: {label: ['berth.managed=true']}})
      return list.map((c) => ({
        id: c.Id,
        name: (c.Names[0] ?? '').replace(/^\//, ''),
        service: c.Labels['berth.service'] ?? '',
        specHash: c.Labels['berth.spec-hash'] ?? '',
        running: c.State === 'running',
        image: c.Image,
      }))
    },
    async removeContainer(id) {
      await (await connect()).getContainer(id).remove({force: true}).catch((error: {statusCode?: number}) => {
        if (error.statusCode !== 404) throw error
      })
    },
    async ensureImage(ref, auth) {
      const client = await connect()
      const present = await client.getImage(ref).inspect().then(() => true, () => false)
      if (present) return
      await pullImage(client, ref, auth)
    },
  }
}

/**
 * Pulls `ref` through dockerd (with `auth` in the one request's X-Registry-Auth, when given),
 * whether or not the node has it: a moved tag is fetched again. Fails with the registry's
 * reason (an image missing from the registry, a refused login). The agent pulls only what is
 * absent (ensureImage); the installer pulls every image it is about to run.
 */
export async function pullImage(client: Dockerode, ref: string, auth?: RegistryAuth): Promise<void> {
  const timer = AbortSignal.timeout(pullTimeoutMs)
  try {
    const stream = await client.pull(ref, {abortSignal: timer, ...(auth ? {authconfig: auth} : {})})
    await new Promise<void>((resolve, reject) => {
      client.modem.followProgress(stream, (error: Error | null, events: {error?: string}[]) => {
        const failed = events?.find((e) => e.error)?.error
        if (error || failed) reject(new Error(failed ?? error?.message))
        else resolve()
      })
    })
  } catch (error) {
    throw new BerthError(`image ${ref} is not on the node and cannot be pulled: ${(error as Error).message.trim()}`, {cause: error})
  }
}

/** Parses `systemctl show -p Id -p LoadState -p ActiveState -p SubState -p NeedDaemonReload -p NRestarts UNIT...`: one block per unit, blank-line separated. */
export function parseShow(output: string, units: readonly string[]): Map<string, UnitState> {
  const states = new Map<string, UnitState>()
  const blocks = output.split(/\n\s*\n/).map((block) => block.trim()).filter(Boolean)
  blocks.forEach((block, i) => {
    const props = new Map(block.split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]))
    // systemctl prints blocks in the order asked; Id confirms which unit a block is.
    const name = props.get('Id') || units[i]
    if (name === undefined) return
    const restarts = Number.parseInt(props.get('NRestarts') ?? '', 10)
    const loadState = props.get('LoadState')
    states.set(name, {activeState: props.get('ActiveState') ?? 'inactive', subState: props.get('SubState'), needsReload: props.get('NeedDaemonReload') === 'yes', ...(loadState ? {loadState} : {}), ...(Number.isNaN(restarts) ? {} : {restarts})})
  })
  return states
}
