import type {StoreOptions} from './options.js'
import type {DesiredStore} from './store.js'
import {EtcdStore} from './store-etcd.js'
import {FileStore} from './store-file.js'
import {PostgresStore} from './store-postgres.js'

/**
 * The one place a desired-state store is chosen from the options. The store classes are
 * light; each loads its client library (etcd3, pg, yaml) on first use.
 */

/** Opens the store the options name; nothing connects until the first call. */
export function openStore(options: StoreOptions): DesiredStore {
  switch (options.kind) {
    case 'etcd': return new EtcdStore({endpoints: options.endpoints, prefix: options.prefix})
    case 'postgres': return new PostgresStore({url: options.url})
    case 'file': return new FileStore(options.path)
  }
}
