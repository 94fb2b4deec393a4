type Etcd3 = import('etcd3').Etcd3

/**
 * An etcd3 client (loaded on first use) for records and desired state: unary calls give up
 * after 5 s instead of hanging on a dead member; streams (watches) have no deadline.
 */
export async function openEtcd(endpoints: string[], extra: Partial<import('etcd3').IOptions> = {}): Promise<Etcd3> {
  const {Etcd3} = await import('etcd3')
  return new Etcd3({
    hosts: endpoints,
    dialTimeout: 3000,
    defaultCallOptions: (context) => (context.isStream ? {} : {deadline: Date.now() + 5000}),
    ...extra,
  })
}
