import {request} from 'node:http'
import {connect} from 'node:net'

import type Dockerode from 'dockerode'

/**
 * The three probes, each bounded by its timeout and resolving to a result, never throwing:
 * http (a GET, passing on one status or any 2xx), tcp (a connect) and exec (argv in the
 * container through dockerd's exec API, no shell, passing on exit 0). http and tcp dial
 * the container's own address on the Docker bridge: the agent runs in the node's network
 * namespace, and the container port is there whether or not the service publishes it.
 */

/** One probe's outcome; `error` says why it failed, in a line fit for `cluster status`. */
export interface ProbeResult {
  ok: boolean
  error?: string
}

/** A GET of `http://host:port{path}` passes on `status`, or on any 2xx when it is undefined. */
export function probeHttp(target: {host: string; port: number; path: string; status?: number}, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = request({host: target.host, port: target.port, path: target.path, method: 'GET', agent: false, headers: {'user-agent': 'berth-health'}}, (res) => {
      res.resume()
      const code = res.statusCode ?? 0
      const ok = target.status === undefined ? code >= 200 && code < 300 : code === target.status
      resolve(ok ? {ok} : {ok, error: `GET ${target.path} on port ${target.port} answered ${code}, expected ${target.status ?? '2xx'}`})
      req.destroy()
    })
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)))
    req.on('error', (error) => resolve({ok: false, error: `GET ${target.path} on port ${target.port}: ${error.message}`}))
    req.end()
  })
}

/** A TCP connect to `host:port` passes once it is established. */
export function probeTcp(target: {host: string; port: number}, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({host: target.host, port: target.port})
    const done = (result: ProbeResult): void => {
      socket.destroy()
      resolve(result)
    }
    socket.setTimeout(timeoutMs, () => done({ok: false, error: `connect to port ${target.port}: no answer within ${timeoutMs / 1000} s`}))
    socket.once('connect', () => done({ok: true}))
    socket.once('error', (error) => done({ok: false, error: `connect to port ${target.port}: ${error.message}`}))
  })
}

/**
 * Runs `argv` in the container (dockerd's exec API: no shell, no TTY, output discarded) and
 * passes on exit 0. dockerd cannot kill an exec, so a command past its timeout is left to
 * finish on its own; the probe counts it failed at once.
 */
export async function probeExec(docker: Dockerode, containerId: string, argv: readonly string[], timeoutMs: number): Promise<ProbeResult> {
  const what = `exec ${argv[0] ?? ''}`
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<ProbeResult>((resolve) => {
    timer = setTimeout(() => resolve({ok: false, error: `${what}: did not exit within ${timeoutMs / 1000} s`}), timeoutMs)
  })
  const run = async (): Promise<ProbeResult> => {
    const exec = await docker.getContainer(containerId).exec({Cmd: [...argv], AttachStdout: true, AttachStderr: true, Tty: false})
    const stream = await exec.start({hijack: true, stdin: false})
    await new Promise<void>((resolve) => {
      stream.on('end', resolve).on('close', resolve).on('error', () => resolve())
      stream.resume()
    })
    const {ExitCode: code} = await exec.inspect()
    return code === 0 ? {ok: true} : {ok: false, error: `${what} exited with ${code ?? 'no code'}`}
  }
  try {
    return await Promise.race([run().catch((error: Error) => ({ok: false, error: `${what}: ${error.message.split('\n')[0]}`})), timeout])
  } finally {
    clearTimeout(timer)
  }
}
