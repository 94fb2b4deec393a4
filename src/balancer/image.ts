import {createHash} from 'node:crypto'

import {ensureBaseImage} from '../images/base.js'
import {ensureImage} from '../images/ensure.js'

// Debian's haproxy, and socat to talk to its admin socket; never anything from Docker Hub.
const DOCKERFILE = `ARG BASE
FROM \${BASE}
RUN printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d \\
 && apt-get update && apt-get install -y --no-install-recommends haproxy socat \\
 && apt-get clean && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \\
 && mkdir -p /run/haproxy
STOPSIGNAL SIGUSR1
CMD ["/usr/sbin/haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"]
`

/** Builds the balancer image (`berth-balancer:<hash>` over this Dockerfile and the base image) unless it exists. */
export async function ensureBalancerImage(progress: (line: string) => void = () => {}): Promise<string> {
  const base = await ensureBaseImage({pullTimeoutMs: 0, onProgress: progress})
  const tag = `berth-balancer:${createHash('sha256').update(DOCKERFILE).update(base.id).digest('hex').slice(0, 12)}`
  await ensureImage({
    tag,
    args: ['--build-arg', `BASE=${base.ref}`, '--label', 'berth.image=balancer'],
    context: '-',
    dockerfile: DOCKERFILE,
    onProgress: progress,
    output: {stream: false, announce: `docker build -t ${tag}`, failure: (tail) => `docker build of the balancer image failed: ${tail}`, tailLines: 5},
  })
  return tag
}
