import {connect, createServer, type Socket} from 'node:net'

/** A TCP proxy on loopback. */
export interface TcpProxy {
  /** `http://127.0.0.1:PORT`, for an etcd endpoint. */
  url: string
  /** How many connections it has accepted: one per client that dialled through it. */
  accepted(): number
  /** Closes it and drops its connections, as a member going away does. */
  stop(): Promise<void>
}

/** A TCP proxy to `target` (http://HOST:PORT) on loopback `port` (0: any free one). */
export async function tcpProxy(target: string, port = 0): Promise<TcpProxy> {
  const to = new URL(target)
  const sockets = new Set<Socket>()
  let accepted = 0
  const server = createServer((socket) => {
    accepted++
    const upstream = connect(Number(to.port), to.hostname)
    for (const s of [socket, upstream]) {
      sockets.add(s)
      s.on('error', () => undefined)
      s.on('close', () => sockets.delete(s))
    }
    socket.pipe(upstream).pipe(socket)
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as {port: number}).port}`,
    accepted: () => accepted,
    stop: async () => {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}
