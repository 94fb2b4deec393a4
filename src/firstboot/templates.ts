import {readFile} from 'node:fs/promises'

import {shipped} from '../paths.js'

/** The templates in cloud-config/ that first-boot files are made of. */
export const TEMPLATE_NAMES = [
  'installer.path', 'installer.service', 'docker.conf', 'docker-containers.mount', 'containerd.conf', 'containerd-state.mount',
  'secrets.mount', 'unseal.service', 'node-secrets.sh', 'etcd.env', 'etcd-member.conf',
] as const
export type TemplateName = (typeof TEMPLATE_NAMES)[number]
export type Templates = Record<TemplateName, (context: object) => string>

/** No HTML escaping (these are unit files); a missing variable is an error, not "". */
export const COMPILE_OPTIONS = {noEscape: true, strict: true}

type Spec = ReturnType<typeof import('handlebars').precompile>
type Template = (context: object) => string
type Precompiled = Partial<Record<string, {source: string; spec: Spec}>>

let loaded: Promise<Templates> | undefined

/**
 * The shipped Handlebars templates, once per process. `npm run build` precompiles them
 * (scripts/precompile.mjs), so only Handlebars' runtime is loaded; a template whose source
 * differs from what was precompiled, or a build without that step, is compiled here.
 */
export function loadTemplates(): Promise<Templates> {
  loaded ??= (async () => {
    const [sources, precompiled] = await Promise.all([
      Promise.all(TEMPLATE_NAMES.map((name) => readFile(shipped('cloud-config', `${name}.hbs`), 'utf8'))),
      import(new URL('./templates.cjs', import.meta.url).href).then((m: {default: Precompiled}) => m.default, (): Precompiled => ({})),
    ])
    const fresh = TEMPLATE_NAMES.every((name, i) => precompiled[name]?.source === sources[i])
    let make: (name: TemplateName, source: string) => Template
    if (fresh) {
      const {default: runtime} = await import('handlebars/runtime.js') as {default: {template: (spec: Spec) => Template}}
      make = (name) => runtime.template(precompiled[name]!.spec)
    } else {
      const {default: Handlebars} = await import('handlebars')
      make = (_, source) => Handlebars.compile(source, COMPILE_OPTIONS)
    }
    return Object.fromEntries(TEMPLATE_NAMES.map((name, i) => [name, memoized(make(name, sources[i]!))])) as Templates
  })()
  return loaded
}

/**
 * A template that renders each distinct context once: most of a cluster's unit files are
 * the same for every machine, and Handlebars sets up every call afresh.
 */
function memoized(template: Template): Template {
  const rendered = new Map<string, string>()
  return (context) => {
    const key = JSON.stringify(context)
    let text = rendered.get(key)
    if (text === undefined) rendered.set(key, (text = template(context)))
    return text
  }
}
