import {chmod, copyFile, cp, mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {BerthError, outputTail} from '../errors.js'
import {contextHash, ensureBaseImage} from '../local-cluster/image.js'
import {shipped} from '../paths.js'

/**
 * The example service's image (`examples/web`): busybox httpd on the same base image as
 * the installer (never pulled from Docker Hub) with the build host's static busybox. Built
 * only when no image of the same context and base exists.
 */

/** The example's image tag, relative to the cluster's registry. */
export const EXAMPLE_IMAGE = 'examples/web:1'

/** The example's build context in the repository. */
export const EXAMPLE_CONTEXT = shipped('examples', 'web')

/** Builds the example image unless it is up to date; returns its tag and whether it built. */
export async function buildExampleImage(busybox = '/bin/busybox'): Promise<{tag: string; built: boolean}> {
  const {execa} = await import('execa')
  const base = await ensureBaseImage({pullTimeoutMs: 0})
  const context = await mkdtemp(path.join(tmpdir(), 'berth-example-'))
  try {
    await cp(EXAMPLE_CONTEXT, context, {recursive: true})
    await copyFile(busybox, path.join(context, 'busybox')).catch((error: NodeJS.ErrnoException) => {
      throw new BerthError(`the example image needs a static busybox at ${busybox} (${error.code}); install busybox-static`)
    })
    await chmod(path.join(context, 'busybox'), 0o755)
    const hash = (await contextHash(context, base.id)).slice(0, 12)
    const label = await execa('docker', ['image', 'inspect', '--format', '{{index .Config.Labels "berth.context"}}', EXAMPLE_IMAGE], {reject: false})
    if (label.exitCode === 0 && label.stdout.trim() === hash) return {tag: EXAMPLE_IMAGE, built: false}
    const built = await execa('docker', ['build', '-q', '--build-arg', `BASE=${base.ref}`, '--label', `berth.context=${hash}`, '--label', 'berth.image=example', '-t', EXAMPLE_IMAGE, context], {reject: false, all: true, env: {DOCKER_BUILDKIT: '0'}})
    if (built.exitCode !== 0) throw new BerthError(`docker build of ${EXAMPLE_IMAGE} failed: ${outputTail(built.all, 5)}`)
    return {tag: EXAMPLE_IMAGE, built: true}
  } finally {
    await rm(context, {recursive: true, force: true})
  }
}
