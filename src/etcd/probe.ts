/**
 * Plain TCP connects to etcd client URLs: the CLI's way to leave a dead member out before
 * etcd3 picks endpoints at random (a call that picks it waits its whole dial timeout), and
 * the error messages' way to say what a connect met.
 */

/** What one TCP connect to `endpoint` met: undefined when it was accepted, else a clause for a message. */
export async function tcpProbe(endpoint: string, timeoutMs = 1000): Promise<string | undefined> {
  const {connect} = await import('node:net')
  let url: URL
  try {
    url = new URL(endpoint)
  } catch {
    return `${JSON.stringify(endpoint)} is not a URL`
  }
  const port = Number(url.port || 2379)
  const address = `${url.hostname}:${port}`
  return new Promise<string | undefined>((resolve) => {
    const socket = connect({host: url.hostname, port})
    const done = (reason: string | undefined): void => {
      socket.destroy()
      resolve(reason)
    }
    socket.setTimeout(timeoutMs, () => done(`etcd at ${address} did not answer within ${timeoutMs} ms`))
    socket.once('connect', () => done(undefined))
    socket.once('error', (error: NodeJS.ErrnoException) => done(error.code === 'ECONNREFUSED' ? `etcd at ${address} refused the connection` : `${address} cannot be reached (${error.code ?? error.message})`))
  })
}

/**
 * The endpoints that accept a TCP connect, in their given order: all are tried at once, and
 * the wait ends `graceMs` after the first accepts (a live member on the same network answers
 * in a millisecond or two) or at `timeoutMs`. None answering gives them all back, so the
 * caller's own call fails with etcd's full reason.
 */
export async function answeringEndpoints(endpoints: readonly string[], timeoutMs = 1000, graceMs = 150): Promise<string[]> {
  if (endpoints.length < 2) return [...endpoints]
  const accepted = new Set<string>()
  await new Promise<void>((resolve) => {
    let left = endpoints.length
    const timer = setTimeout(resolve, timeoutMs)
    const finish = (): void => {
      clearTimeout(timer)
      resolve()
    }
    for (const endpoint of endpoints) {
      void tcpProbe(endpoint, timeoutMs).then((reason) => {
        if (reason === undefined) {
          if (accepted.size === 0) setTimeout(finish, graceMs).unref?.()
          accepted.add(endpoint)
        }
        if (--left === 0) finish()
      })
    }
  })
  const live = endpoints.filter((e) => accepted.has(e))
  return live.length > 0 ? live : [...endpoints]
}
