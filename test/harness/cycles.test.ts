import assert from 'node:assert/strict'
import {describe, it} from 'node:test'
import {pathToFileURL} from 'node:url'

import {packageRoot, shipped} from '../../src/paths.js'
import type {FileEdge} from '../../scripts/import-cycles.mjs'

// Issue 11, item 4: no import cycle between the folders of src/ and commands/ (type-only
// and lazy imports count), nor between the files of one folder. The rule and its allowed
// edges live in scripts/import-cycles.mjs, which `npm run lint` runs too; it is loaded from
// the source tree, since the build does not copy scripts/.
const {checkCycles, cycles, describeCycle, fileGraphWithinFolders, folderGraph, verdict, without} =
  await import(pathToFileURL(shipped('scripts', 'import-cycles.mjs')).href) as typeof import('../../scripts/import-cycles.mjs')

describe('import cycles', () => {
  const checked = checkCycles(packageRoot)

  it('the folders of src/ and commands/ form none', async () => {
    const result = await checked
    assert.deepEqual(result.folders.cycles, [], verdict(result).join('\n\n'))
  })

  it('every allowed edge still closes a cycle', async () => {
    const result = await checked
    assert.deepEqual(result.stale, [], verdict(result).join('\n\n'))
  })

  it('the files of each folder form none', async () => {
    const result = await checked
    assert.deepEqual(result.files.cycles, [], verdict(result).join('\n\n'))
  })

  it('finds a cycle added on purpose, and prints it with the imports that make it', () => {
    const edges: FileEdge[] = [
      {from: 'src/a/x.ts', to: 'src/b/y.ts'},
      {from: 'src/b/y.ts', to: 'src/b/z.ts'},
      {from: 'src/b/z.ts', to: 'src/c/w.ts'},
      {from: 'src/c/w.ts', to: 'src/a/v.ts'},
      {from: 'src/a/v.ts', to: 'src/errors.ts'},
      {from: 'src/a/api/r.ts', to: 'src/a/x.ts'},
    ]
    const graph = folderGraph(edges)
    const found = cycles(graph)
    assert.deepEqual(found, [['src/a', 'src/b', 'src/c', 'src/a']])
    assert.match(describeCycle(graph, found[0]!), /src\/b -> src\/c {3}\(src\/b\/z\.ts imports src\/c\/w\.ts\)/)
    assert.deepEqual(cycles(without(graph, ['src/b -> src/c'])), [])
    // A subfolder is a folder of its own: src/a/api → src/a alone is no cycle, and back is one.
    assert.deepEqual(cycles(folderGraph([...edges, {from: 'src/a/x.ts', to: 'src/a/api/r.ts'}])), [['src/a', 'src/a/api', 'src/a']])
    assert.deepEqual(cycles(fileGraphWithinFolders([...edges, {from: 'src/b/z.ts', to: 'src/b/y.ts'}])), [['src/b/y.ts', 'src/b/z.ts', 'src/b/y.ts']])
  })

  it('names a stale allowed edge', async () => {
    const result = await checkCycles(packageRoot, {'src/agent -> src/nowhere': 'gone'}, {'src/spec/types.ts -> src/spec/service.ts': 'no such cycle'})
    assert.deepEqual(result.stale, ['src/agent -> src/nowhere', 'src/spec/types.ts -> src/spec/service.ts'])
    assert.match(verdict(result).join('\n'), /take them out of scripts\/import-cycles\.mjs/)
  })
})
