import {BerthError, outputTail} from '../errors.js'

/**
 * Pushes an image to the cluster's registry. The local cluster's registry speaks plain HTTP;
 * a dockerd that does not list it under insecure-registries refuses it, so the image can go
 * through a node instead, whose dockerd berth configured to trust it: `docker save | docker
 * exec -i NODE docker load`, then the push from inside the node.
 */

/** How the image reached the registry. */
export interface PushResult {
  refs: string[]
  via: 'host' | 'node'
}

// dockerd's words for "this registry is not HTTPS and I was not told to trust it".
const insecureRefusal = /server gave HTTP response to HTTPS client|http: server gave HTTP response|x509|tls:/i

/** Where a push may go. */
export interface PushOptions {
  /** A node container whose dockerd trusts the registry: the fallback when the host's refuses plain HTTP. */
  viaNode?: string
  /** Push through viaNode without trying the host first (the upgrade test keeps that path exercised). */
  throughNode?: boolean
  progress?: (line: string) => void
}

/** Tags `tags` under `registry` and pushes them from the host, or through a node when the host's dockerd refuses plain HTTP. */
export async function pushImage(tags: readonly string[], registry: string, options: PushOptions = {}): Promise<PushResult> {
  const {execa} = await import('execa')
  const refs = tags.map((tag) => `${registry}/${tag}`)
  for (const [i, tag] of tags.entries()) await execa('docker', ['tag', tag, refs[i] as string])
  try {
    return await pushRefs(refs, registry, options)
  } finally {
    // The registry-named tags exist only for the push: untag them (the images keep their own
    // tags), so pushes to clusters since destroyed do not pile up on the host.
    await execa('docker', ['image', 'rm', ...refs], {reject: false})
  }
}

async function pushRefs(refs: string[], registry: string, {viaNode, throughNode, progress = () => {}}: PushOptions): Promise<PushResult> {
  const {execa} = await import('execa')
  if (!throughNode) {
    const refusal = await pushFromHost(refs, progress)
    if (refusal === undefined) return {refs, via: 'host'}
    if (!viaNode) {
      throw new BerthError(`this host's dockerd does not trust ${registry} (${refusal}); add it to insecure-registries in /etc/docker/daemon.json, or pass --local-cluster NAME to push through a node`)
    }
    progress(`the host's dockerd refuses plain HTTP to ${registry}: pushing through ${viaNode}`)
  }
  if (!viaNode) throw new BerthError(`pushing to ${registry} through a node needs the node`)
  await execa('docker', ['save', ...refs], {buffer: false}).pipe('docker', ['exec', '-i', viaNode, 'docker', 'load'])
  for (const ref of refs) {
    const pushed = await execa('docker', ['exec', viaNode, 'docker', 'push', ref], {reject: false, all: true})
    if (pushed.exitCode !== 0) throw new BerthError(`${viaNode}: docker push ${ref} failed: ${outputTail(pushed.all, 3, ' ')}`)
  }
  return {refs, via: 'node'}
}

/** Pushes from the host's dockerd; returns its refusal when it does not trust the registry's plain HTTP. */
async function pushFromHost(refs: string[], progress: (line: string) => void): Promise<string | undefined> {
  const {execa} = await import('execa')
  for (const ref of refs) {
    progress(`docker push ${ref}`)
    const pushed = await execa('docker', ['push', ref], {reject: false, all: true})
    if (pushed.exitCode === 0) continue
    if (!insecureRefusal.test(pushed.all ?? '')) throw new BerthError(`docker push ${ref} failed: ${outputTail(pushed.all, 3, ' ')}`)
    return outputTail(pushed.all, 1)
  }
  return undefined
}
