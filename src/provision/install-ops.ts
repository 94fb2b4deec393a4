import {readFile} from 'node:fs/promises'

import {runImage} from '../images/reference.js'
import {validateServiceSpec} from '../spec/service.js'
import {writeFileAtomic} from '../fsx.js'
import {shipped} from '../paths.js'
import type {NodeFile} from './agent-unit.js'
import type {NodeClusterFile} from '../firstboot/cluster-json.js'
import type {RecordStore} from '../etcd/records.js'
import {parseServiceKey, servicesDir} from '../layout/records.js'

/** The installer's small hands on the node: files written only when they differ, the images to pull, the version. */

/** Writes `text` atomically unless the file holds exactly that already; true when it wrote. */
export async function writeIfChanged(file: string, text: string, mode: number): Promise<boolean> {
  const current = await readFile(file, 'utf8').catch(() => undefined)
  if (current === text) return false
  await writeFileAtomic(file, text, mode)
  return true
}

/** The images of the services this machine's role runs, from etcd (newer than cluster.json) with cluster.json's as the fallback. */
export async function serviceImages(node: NodeFile, cluster: NodeClusterFile, records: RecordStore): Promise<string[]> {
  const specs = new Map<string, {image: string; imageDigest?: string; roles: string[]}>()
  for (const [name, raw] of Object.entries(cluster.services)) specs.set(name, await validateServiceSpec(raw))
  for (const [key, spec] of await records.getAll<unknown>(servicesDir(cluster.etcdPrefix))) {
    const name = parseServiceKey(key, cluster.etcdPrefix)
    if (name !== undefined) specs.set(name, await validateServiceSpec(spec))
  }
  const images = [...specs.values()].filter((s) => s.roles.includes(node.role)).map((s) => runImage(s, node.registry))
  return [...new Set(images)].sort()
}

/**
 * The version an install records: the image's tag when it is a build's content tag
 * (`0.1.0-335fcb13c742`), else berth's package version and the image id's first 12 digits.
 */
export async function installedVersion(image: string): Promise<string> {
  const tag = /:([A-Za-z0-9_][A-Za-z0-9_.-]*)$/.exec(image.split('/').at(-1) ?? '')?.[1]
  if (tag && tag !== 'latest') return tag
  const {execa} = await import('execa')
  const id = (await execa('docker', ['image', 'inspect', '--format', '{{.Id}}', image])).stdout.trim().replace(/^sha256:/, '')
  const version = (JSON.parse(await readFile(shipped('package.json'), 'utf8')) as {version: string}).version
  return `${version}+${id.slice(0, 12)}`
}
