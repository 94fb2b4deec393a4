import type {StoreOptions} from '../options.js'
import type {DesiredStore} from './store.js'
import {EtcdStore, type EtcdTimer} from './store-etcd.js'
import {FileStore} from './store-file.js'
import {PostgresStore} from './store-postgres.js'

/**
 * The one place a desired-state store is chosen from the options. The store classes are
 * light; each loads its client library (etcd3, pg, yaml) on first use.
 */

/** Opens the store the options name; nothing connects until the first call. `etcdTimer` times an etcd store's requests. */
export function openStore(options: StoreOptions, etcdTimer?: EtcdTimer): DesiredStore {
  switch (options.kind) {
    case 'etcd': return new EtcdStore({endpoints: options.endpoints, prefix: options.prefix, timer: etcdTimer})
    case 'postgres': return new PostgresStore({url: options.url})
    case 'file': return new FileStore(options.path)
  }
}
