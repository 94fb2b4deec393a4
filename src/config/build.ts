import {stat} from 'node:fs/promises'
import path from 'node:path'

import type {Problem} from '../errors.js'
import type {ServiceSpecInput} from '../spec/types.js'

/**
 * A service's `build:` in cluster.yaml: how berth builds its image. It lives in cluster.yaml
 * only; the spec berth stores and the nodes read never carry it. With `build`, the
 * service's `image` names the repository in the cluster's registry (`team/web`), and berth
 * tags each build `team/web:<12 hex digits of the content hash>`: a tag, digest or registry
 * host written by hand is refused, since it would not be the image that was built.
 */

/** A service's build with its paths resolved against cluster.yaml's folder. */
export interface ServiceBuild {
  /** The repository relative to the cluster's registry, as `image` writes it. */
  repository: string
  context: string
  dockerfile: string
  args: Record<string, string>
}

/** `build` as cluster.yaml writes it. */
export interface BuildDocument {
  context: string
  dockerfile?: string
  args?: Record<string, string>
}

/** A service as cluster.yaml writes it: the spec, and how berth builds its image. */
export type ServiceDocument = ServiceSpecInput & {build?: BuildDocument}

/**
 * The services without `build`, and each service's build resolved against `file`'s folder.
 * It runs on documents the schema has not passed yet too (buildProblems), so it reads
 * `build` only where it has the right shape.
 */
export function splitBuilds(services: Record<string, ServiceDocument>, file: string | undefined): {services: Record<string, ServiceSpecInput>; builds: Record<string, ServiceBuild>} {
  const base = file ? path.dirname(path.resolve(file)) : process.cwd()
  const stripped: Record<string, ServiceSpecInput> = {}
  const builds: Record<string, ServiceBuild> = {}
  for (const [name, service] of Object.entries(services)) {
    // What is not a mapping has no build; the schema names it.
    if (!isObject(service)) continue
    const {build, ...spec} = service
    stripped[name] = spec
    if (!isObject(build) || typeof build.context !== 'string') continue
    const context = path.resolve(base, build.context)
    builds[name] = {
      repository: String(spec.image),
      context,
      dockerfile: typeof build.dockerfile === 'string' ? path.resolve(base, build.dockerfile) : path.join(context, 'Dockerfile'),
      args: isObject(build.args) ? build.args : {},
    }
  }
  return {services: stripped, builds}
}

/**
 * What the schema cannot check of each build: the context is a folder, the Dockerfile a
 * file, and `image` a bare repository (no tag, digest or registry host).
 */
export async function buildProblems(services: unknown, file: string | undefined): Promise<Problem[]> {
  if (!isObject(services)) return []
  const problems: Problem[] = []
  // Not checked yet: splitBuilds reads only the builds of the right shape, and only those are looked at here.
  const written = services as Record<string, ServiceDocument>
  const {builds} = splitBuilds(written, file)
  for (const [name, build] of Object.entries(builds)) {
    const at = `services/${name}`
    const dockerfile = written[name]!.build!.dockerfile
    problems.push(...repositoryProblems(build.repository, {file, path: `${at}/image`}))
    if (!(await isKind(build.context, 'directory'))) {
      problems.push({file, path: `${at}/build/context`, message: `${build.context} is not a folder`, fix: 'write the build context folder, relative to cluster.yaml'})
    } else if (!(await isKind(build.dockerfile, 'file'))) {
      const where = dockerfile === undefined ? `${at}/build` : `${at}/build/dockerfile`
      problems.push({file, path: where, message: `${build.dockerfile} does not exist`, fix: dockerfile === undefined ? 'add a Dockerfile to the context, or set build.dockerfile' : 'write the Dockerfile\'s path, relative to cluster.yaml'})
    }
  }
  return problems
}

/** With build, `image` is a repository in the cluster's registry; berth picks the tag. */
export function repositoryProblems(image: string, where: {file?: string; path: string}): Problem[] {
  const parts = image.split('/')
  const first = parts[0] ?? ''
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    return [{...where, message: `"${image}" names a registry host; with build the image goes to the cluster's registry`, fix: `write the repository alone, like ${parts.slice(1).join('/').split(/[:@]/)[0]}`}]
  }
  if (/[:@]/.test(image)) {
    return [{...where, message: `"${image}" carries a tag or digest; with build berth tags the image by its content`, fix: `write ${image.split(/[:@]/)[0]}`}]
  }
  if (!/^[a-z0-9]+([._-][a-z0-9]+)*(\/[a-z0-9]+([._-][a-z0-9]+)*)*$/.test(image)) {
    return [{...where, message: `"${image}" is not a repository name`, fix: 'use lower-case letters, digits, and . _ - between them, with / between parts, like team/web'}]
  }
  return []
}

async function isKind(file: string, kind: 'file' | 'directory'): Promise<boolean> {
  const info = await stat(file).catch(() => undefined)
  return kind === 'file' ? info?.isFile() === true : info?.isDirectory() === true
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
