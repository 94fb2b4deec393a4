import {readFile} from 'node:fs/promises'

import {shipped} from '../paths.js'

/** The templates in cloud-config/ that first-boot files are made of. */
export const TEMPLATE_NAMES = ['installer.path', 'installer.service', 'docker.conf', 'docker-containers.mount', 'etcd.env', 'etcd-member.conf'] as const
export type TemplateName = (typeof TEMPLATE_NAMES)[number]
export type Templates = Record<TemplateName, (context: object) => string>

let loaded: Promise<Templates> | undefined

/** Compiles the shipped Handlebars templates once per process (no HTML escaping: these are unit files). */
export function loadTemplates(): Promise<Templates> {
  loaded ??= (async () => {
    const {default: Handlebars} = await import('handlebars')
    const entries = await Promise.all(TEMPLATE_NAMES.map(async (name) => {
      const source = await readFile(shipped('cloud-config', `${name}.hbs`), 'utf8')
      return [name, Handlebars.compile(source, {noEscape: true, strict: true})] as const
    }))
    return Object.fromEntries(entries) as Templates
  })()
  return loaded
}
