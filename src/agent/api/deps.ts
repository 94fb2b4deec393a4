import type {RegistryCredentials} from '../../images/digest.js'
import type {ReplicaRow} from '../../scheduler/ps.js'
import type {KeyProvider} from '../../secrets/envelope.js'
import type {ServiceSpec} from '../../spec/service.js'
import type {AgentStatus, ObservedService} from '../loop/status.js'
import type {DesiredStore} from '../store/store.js'
import type {Readiness} from '../drain/drain.js'
import type {RegistryEventsDeps} from './registry-events.js'

/**
 * What the admin API needs from the agent, in one file that the routes, quartermaster's
 * routes and the server all import: commands/agent/run.ts plugs in the real ones, tests fakes.
 */

/** What quartermaster's routes need beyond the admin API's own deps; the agent wires the real ones. */
export interface QuartermasterDeps {
  /** The key provider that seals a run's registry auth; without it a run with `auth` is refused. */
  key?: () => Promise<KeyProvider>
  /** A service's replicas with their machines and observed states (etcd); without it `/status` asks `observe`. */
  replicas?: (service: string) => Promise<ReplicaRow[]>
}

/** What the routes need from the agent; the loop plugs in the real ones, tests fakes. */
export interface ApiDeps extends QuartermasterDeps {
  store: DesiredStore
  /** The observed state of one service, or undefined when the node runs nothing for it. */
  observe(name: string): Promise<ObservedService | undefined>
  /** The loop's status: its last pass, errors and drift (`GET /v1/status`). */
  status(): Promise<AgentStatus> | AgentStatus
  /** Asks the loop for a pass soon; must not wait for it. */
  requestSync(): void | Promise<void>
  /** Pins a spec to its image's digest before it is stored (src/images/pin.ts), with the service's pull credentials; absent, specs are stored as written. */
  pin?(spec: ServiceSpec, credentials?: RegistryCredentials): Promise<ServiceSpec>
  /** The registry's push notifications (./registry-events.ts); absent, that route answers 404. */
  registryEvents?: RegistryEventsDeps
  /** What a balancer (`asker`, its address) is told about this machine's copy of a service (`GET /v1/ready/<service>`); absent, every service is not ready. */
  readiness?(asker: string, service: string): Readiness
  /** The Prometheus exposition (src/agent/loop/metrics.ts); absent when metrics are off or listen elsewhere. */
  metrics?(): Promise<{contentType: string; body: string}>
}
