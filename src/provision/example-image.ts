import {chmod, copyFile, cp, mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'

import {BerthError} from '../errors.js'
import {buildImage} from '../images/build.js'
import {ensureBaseImage} from '../images/base.js'
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
  const base = await ensureBaseImage({pullTimeoutMs: 0})
  const context = await mkdtemp(path.join(tmpdir(), 'berth-example-'))
  try {
    await cp(EXAMPLE_CONTEXT, context, {recursive: true})
    await copyFile(busybox, path.join(context, 'busybox')).catch((error: NodeJS.ErrnoException) => {
      throw new BerthError(`the example image needs a static busybox at ${busybox} (${error.code}); install busybox-static`)
    })
    await chmod(path.join(context, 'busybox'), 0o755)
    const built = await buildImage({context, repository: 'examples/web', tag: EXAMPLE_IMAGE, args: {BASE: base.ref}, extra: base.id, labels: {'berth.image': 'example'}})
    return {tag: EXAMPLE_IMAGE, built: built.built}
  } finally {
    await rm(context, {recursive: true, force: true})
  }
}
