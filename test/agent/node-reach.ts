import {lstatSync, mkdirSync, symlinkSync, unlinkSync} from 'node:fs'
import {execa} from 'execa'

import type {AgentOptions} from '../../src/agent/options.js'
import {realNodeOps, type NodeOps} from '../../src/agent/node/node-ops.js'
import {createAgent, type Agent} from '../../src/agent/wiring/runtime.js'

/**
 * The agent's loop run on this host against a real node container: its NodeOps are the
 * real ones (`realNodeOps`), reaching the node from outside (systemctl through `docker
 * exec`, the node's dockerd through its socket), and its unit files are the node's own,
 * through the node's root as /proc/PID/root shows it. So a test can hold or kill a pass at
 * an exact step and still have systemd and dockerd do the work. Shared by
 * node-loop.test.ts and its child process.
 */

/** A node container as a loop on this host reaches it. */
export interface NodeAt {
  ip: string
  nodeId: string
  /** The node's file system seen from here: `/proc/<its PID 1>/root`. */
  root: string
}

/** Where one test's loop keeps its units and desired state, so tests sharing a node do not see each other's services. */
export interface LoopPlace {
  unitPrefix: string
  storePrefix: string
}

/** Finds the node's root through its PID 1. */
export async function nodeAt(ip: string, nodeId: string): Promise<NodeAt> {
  const pid = (await execa('docker', ['inspect', '--format', '{{.State.Pid}}', nodeId])).stdout.trim()
  return {ip, nodeId, root: `/proc/${pid}/root`}
}

/** The agent's own NodeOps, reaching the node: systemctl through `docker exec`, dockerd through its socket (`/run`, not the `/var/run` symlink, which would resolve here). */
export function reachNode(at: NodeAt): NodeOps {
  return realNodeOps({systemctl: ['docker', 'exec', at.nodeId, 'systemctl'], dockerSocket: `${at.root}/run/docker.sock`})
}

/**
 * The directory of the agent's env and label files, under one path on both sides: every unit
 * names the two files, and the node's docker reads them at that path, so it is a directory in
 * the node's /tmp (a tmpfs) and, here, a link of the same name to it through /proc. Per node.
 */
export function sharedFileDir(at: NodeAt): string {
  const dir = `/tmp/berth-files-${at.nodeId.slice(0, 12)}`
  mkdirSync(`${at.root}${dir}`, {recursive: true, mode: 0o700})
  const linked = ((): boolean => {
    try {
      return lstatSync(dir).isSymbolicLink()
    } catch {
      return false
    }
  })()
  if (!linked) {
    symlinkSync(`${at.root}${dir}`, dir)
    // The link is this run's; the folder it points to goes with the node container.
    process.once('exit', () => {
      try {
        unlinkSync(dir)
      } catch {
        // Already gone.
      }
    })
  }
  return dir
}

/**
 * The agent as `createAgent` wires it, for the node: desired state in the node's etcd, unit
 * files in its /etc/systemd/system, env and label files in `sharedFileDir`. The role is
 * worker, so no scheduler campaigns.
 */
export function agentFor(at: NodeAt, place: LoopPlace, ops: NodeOps = reachNode(at)): Agent {
  const unused = '/nonexistent'
  const options: AgentOptions = {
    file: `${unused}/agent.json`, listen: '127.0.0.1:0', store: {kind: 'etcd', endpoints: [`http://${at.ip}:2379`], prefix: place.storePrefix},
    tokenFile: `${unused}/token`, allowedOrigins: [], insecureHttp: true, secrets: {kind: 'local', masterKeyFile: `${unused}/master.key`},
    unitPrefix: place.unitPrefix, unitDir: `${at.root}/etc/systemd/system`, machine: 'main-1', role: 'worker', resyncSeconds: 3600,
  }
  return createAgent(options, {ops, envFileDir: sharedFileDir(at)})
}
