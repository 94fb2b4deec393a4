import {createServer, type Socket} from 'node:net'

import {BerthError} from '../../errors.js'
import {serviceNameProblem} from '../../spec/service.js'
import {parseListen} from '../options.js'
import type {Readiness} from './drain.js'

/**
 * HAProxy's agent-check, served by the agent: a balancer connects, sends one line naming
 * the service (`agent-send "web\n"`), and gets one line back, `ready` or `drain`, before
 * the agent closes the connection. HAProxy turns `drain` into its DRAIN state (no new
 * requests, those in flight finish) and `ready` back to READY. A failed connection to the
 * agent changes nothing on HAProxy's side (its own health check still decides UP or DOWN).
 */

/** What one connection may send before it is answered: a service name and a newline. */
const MAX_REQUEST_BYTES = 128
/** A balancer that connects and sends nothing is answered (`drain`) and closed after this long. */
const REQUEST_TIMEOUT_MS = 2000

/** The service a request names, or undefined when it names none (an empty line, bytes that are not a service name). */
export function requestedService(request: string): string | undefined {
  const name = request.split('\n')[0]!.trim()
  return name !== '' && serviceNameProblem(name) === undefined ? name : undefined
}

/** The one line a balancer is told: a request that names no service is told `drain`, so a misconfigured balancer sends nothing here. */
export function agentReply(service: string | undefined, answer: (service: string) => Readiness): string {
  return `${service === undefined ? 'drain' : answer(service)}\n`
}

/** A running agent-check listener. */
export interface RunningAgentCheck {
  port: number
  close(): Promise<void>
}

/** Starts the agent-check on `listen` (HOST:PORT); `answer` is asked per request, with who asked. */
export async function startAgentCheck(listen: string, answer: (asker: string, service: string) => Readiness, log?: (line: string) => void): Promise<RunningAgentCheck> {
  const {host, port} = parseListen(listen)
  const server = createServer((socket) => serve(socket, answer, log))
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(new BerthError(`agent-check: cannot listen on ${listen}: ${error.code ?? error.message}`, {cause: error})))
    server.listen(port, host, resolve)
  })
  const address = server.address()
  return {
    port: typeof address === 'object' && address ? address.port : port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

function serve(socket: Socket, answer: (asker: string, service: string) => Readiness, log?: (line: string) => void): void {
  let request = ''
  let replied = false
  const reply = (): void => {
    if (replied) return
    replied = true
    const service = requestedService(request)
    if (service === undefined && request.trim() !== '') log?.(`agent-check: ${socket.remoteAddress ?? '?'} asked about no service (${JSON.stringify(request.slice(0, 40))}); told drain`)
    socket.end(agentReply(service, (s) => answer(socket.remoteAddress ?? '', s)))
  }
  socket.setTimeout(REQUEST_TIMEOUT_MS, reply)
  socket.setEncoding('latin1')
  socket.on('data', (chunk: string) => {
    request += chunk
    if (request.includes('\n') || request.length >= MAX_REQUEST_BYTES) reply()
  })
  socket.on('end', reply)
  socket.on('error', () => socket.destroy())
}
