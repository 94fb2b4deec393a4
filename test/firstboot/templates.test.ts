import assert from 'node:assert/strict'
import {readFile} from 'node:fs/promises'
import {describe, it} from 'node:test'

import {COMPILE_OPTIONS, TEMPLATE_NAMES, loadTemplates} from '../../src/firstboot/templates.js'
import {shipped} from '../../src/paths.js'

describe('first-boot templates', () => {
  const context = {prefix: 'air-', image: '10.0.0.2:5000/berth/installer:1', machine: 'n1', registry: '10.0.0.2:5000', name: 'n1', cluster: 'c', env: {ETCD_NAME: 'n1'}, options: 'mode=0700', secrets: '/etc/berth/secrets', sealed: '/var/lib/berth/sealed'}

  it('render as the shipped sources compiled here do (the build precompiles them)', async () => {
    const {default: Handlebars} = await import('handlebars')
    const templates = await loadTemplates()
    // The build's precompiled specs are of these very sources, so loadTemplates used them.
    const {default: precompiled} = await import(new URL('../../src/firstboot/templates.cjs', import.meta.url).href) as {default: Record<string, {source: string}>}
    for (const name of TEMPLATE_NAMES) {
      const source = await readFile(shipped('cloud-config', `${name}.hbs`), 'utf8')
      assert.equal(precompiled[name]?.source, source, `${name}: precompiled from the shipped source`)
      const text = templates[name](context)
      assert.equal(text, Handlebars.compile(source, COMPILE_OPTIONS)(context), name)
      assert.equal(templates[name]({...context}), text, `${name}: the same context renders the same text`)
    }
  })

  it('fail on a variable the context lacks (strict)', async () => {
    const templates = await loadTemplates()
    assert.throws(() => templates['installer.service']({prefix: 'x-'}), /"machine" not defined/)
    assert.match(templates['installer.service']({...context, machine: 'n2'}), /install this node \(n2\)/)
  })
})
