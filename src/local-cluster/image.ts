import {createHash} from 'node:crypto'

import {contextHash, ensureBaseImage, type EnsureOptions} from '../images/base.js'
import {ensureImage, type EnsuredImage} from '../images/ensure.js'
import {shipped} from '../paths.js'

/** The node image and the registry image a local cluster runs, each built on the base image (images/base.ts). */

/** What `ensureNodeImage` and `ensureRegistryImage` report. */
export type {EnsuredImage}

/** The node image's build context, shipped with berth. */
export const NODE_CONTEXT = shipped('images', 'node')

/**
 * Builds the node image unless an image of the same inputs exists: its tag is
 * `berth-node:` and 12 hex digits of a hash over the build context and the base image id.
 */
export async function ensureNodeImage(options: EnsureOptions = {}): Promise<EnsuredImage> {
  const started = performance.now()
  const base = await ensureBaseImage(options)
  const tag = `berth-node:${(await contextHash(NODE_CONTEXT, base.id)).slice(0, 12)}`
  const image = await ensureImage({tag, args: ['--build-arg', `BASE=${base.ref}`, '--label', 'berth.image=node'], context: NODE_CONTEXT, rebuild: options.rebuild, onProgress: options.onProgress, output: {stream: true}})
  return {...image, seconds: (performance.now() - started) / 1000}
}

/** The registry's own settings, baked into its image; the notifying config adds to them. */
export const REGISTRY_BASE_CONFIG = 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/docker-registry\n  delete:\n    enabled: true\nhttp:\n  addr: :5000\n'

// The registry is Debian's packaged CNCF distribution registry, without authentication:
// it serves only the cluster's own network. Its shell loop serves the config in the tmpfs
// /run/registry when there is one (the push notifications, src/local-cluster/
// registry-notifications.ts), else the baked one, and serves again when the server is
// killed there to take a new config; SIGTERM stops both. The server logs each endpoint's
// headers when it starts, the token among them: sed blanks it before it reaches the log.
const REGISTRY_LOOP = [
  `trap 'kill "$(cat /run/registry/pid)" 2>/dev/null; exit 0' TERM INT`,
  'while :; do c=/etc/docker/registry/berth.yml; [ -s /run/registry/config.yml ] && c=/run/registry/config.yml',
  `sh -c 'echo $$ > /run/registry/pid; exec /usr/bin/docker-registry serve "$1"' serve "$c" 2>&1 | sed -u 's/Authorization:\\[[^]]*\\]/Authorization:[redacted]/g' &`,
  'wait $!; sleep 0.2; done',
].join('\n')
const REGISTRY_DOCKERFILE = `ARG BASE
FROM \${BASE}
RUN printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d \\
 && apt-get update && apt-get install -y --no-install-recommends docker-registry \\
 && apt-get clean && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \\
 && printf '${REGISTRY_BASE_CONFIG.replaceAll('\n', '\\n')}' > /etc/docker/registry/berth.yml \\
 && mkdir -p /run/registry
VOLUME /var/lib/docker-registry
ENV SSL_CERT_FILE=/run/registry/agents.pem
CMD ["/bin/sh", "-c", ${JSON.stringify(REGISTRY_LOOP)}]
`

/** Builds the registry image (`berth-registry:<hash>`) unless it exists. */
export async function ensureRegistryImage(options: EnsureOptions = {}): Promise<EnsuredImage> {
  const started = performance.now()
  const base = await ensureBaseImage(options)
  const hash = createHash('sha256').update(REGISTRY_DOCKERFILE).update(base.id).digest('hex')
  const tag = `berth-registry:${hash.slice(0, 12)}`
  const image = await ensureImage({tag, args: ['--build-arg', `BASE=${base.ref}`, '--label', 'berth.image=registry'], context: '-', dockerfile: REGISTRY_DOCKERFILE, rebuild: options.rebuild, onProgress: options.onProgress, output: {stream: true}})
  return {...image, seconds: (performance.now() - started) / 1000}
}
