import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {execa} from 'execa'
import {parse} from 'yaml'

import {type YamlValue, toYaml} from '../../src/yaml-emit.js'

const tricky: Record<string, YamlValue> = {
  plain: 'main-1',
  path: '/etc/berth/node.json',
  octal: '0644',
  owner: 'root:root',
  booleans: ['yes', 'no', 'on', 'off', 'true', 'Null', '~', 'y'],
  numbers: ['1', '1.5', '1e3', '0x1f', '1:20', '2001-12-14'],
  indicators: ['- dash', '? q', '# hash', '@at', '`tick', '!tag', '&anchor', '*alias', '|pipe', '>fold', '%pct', '{brace', '[bracket', 'a: b', 'a #b', '', ' lead', 'trail '],
  multiline: 'line one\n\n  indented\nlast\n',
  noTrailingNewline: 'a\nb',
  trailingSpaces: 'a \nb\n',
  tabs: 'a\tb\nc\n',
  leadingSpaceBlock: '  x\ny\n',
  manyNewlines: 'a\n\n\n',
  unicode: 'grüße ✓',
  nested: {list: [{a: 1, b: [true, false, null]}, [], {}], empty: '', n: 0},
  key_with_colon: {'a:b': 'c', 'yes': 'quoted key'},
}

describe('the YAML emitter reads back exactly', () => {
  it('through the yaml package (YAML 1.2)', () => {
    assert.deepEqual(parse(toYaml(tricky)), tricky)
  })

  it('through PyYAML (YAML 1.1, what cloud-init reads with)', async () => {
    const result = await execa('/usr/bin/python3', ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'], {input: toYaml(tricky)})
    assert.deepEqual(JSON.parse(result.stdout), tricky)
  })

  it('writes simple values plainly and text as literal blocks', () => {
    assert.equal(toYaml({a: 'x', b: ['p', 'q'], c: 'one\ntwo\n', d: {e: 1}}), 'a: x\nb:\n  - p\n  - q\nc: |\n  one\n  two\nd:\n  e: 1\n')
    assert.equal(toYaml({a: [[1, 2], {b: 'c', d: [{}]}]}), 'a:\n  - - 1\n    - 2\n  - b: c\n    d:\n      - {}\n')
  })

  it('leaves out undefined values, and writes a mapping of nothing else as {}', () => {
    assert.equal(toYaml({a: undefined, b: {c: undefined}, d: 1}), 'b: {}\nd: 1\n')
  })
})
