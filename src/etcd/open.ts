type Etcd3 = import('etcd3').Etcd3

/**
 * An etcd3 client (loaded on first use) for records and desired state.
 *
 * A member that has gone away without closing its connections (a stopped machine) is the
 * case to design for: gRPC then queues every call routed to it on a connection attempt that
 * only the kernel's SYN retries end (about two minutes), and etcd3 routes each call, and each
 * watch it re-creates, to a host picked at random. So unary calls give up after
 * `callTimeoutMs` (a live member answers in milliseconds; 2 s covers a loaded disk), and a
 * host that failed a call is skipped by the next ones for 1 s, then 2, 4… up to 30 s while it
 * keeps failing (with more than one host): a dead member costs one call's deadline per
 * period, not one per call, and a watch re-created after it went away lands on a live one. Each call is retried once per
 * host. (etcd3's own `dialTimeout` option is declared but never read by the library.)
 * Streams (watches, lease keep-alives) have no deadline.
 */
export async function openEtcd(endpoints: string[], extra: Partial<import('etcd3').IOptions> = {}, {callTimeoutMs = 2000} = {}): Promise<Etcd3> {
  const [{Etcd3, isRecoverableError}, {circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleWhen, noop, retry}] = await Promise.all([import('etcd3'), import('cockatiel')])
  const recoverable = handleWhen(isRecoverableError)
  return new Etcd3({
    hosts: endpoints,
    defaultCallOptions: (context) => (context.isStream ? {} : {deadline: Date.now() + callTimeoutMs}),
    ...extra,
    faultHandling: {
      // With one host there is nothing to skip to: a breaker would only fail calls after it is back.
      host: () => (endpoints.length > 1 ? circuitBreaker(recoverable, {halfOpenAfter: new ExponentialBackoff({initialDelay: 1000, maxDelay: 30_000}), breaker: new ConsecutiveBreaker(1)}) : noop),
      global: retry(recoverable, {maxAttempts: endpoints.length + 1}),
      ...extra.faultHandling,
    },
  })
}
