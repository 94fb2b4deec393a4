import assert from 'node:assert/strict'
import {mkdir, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {describe, it} from 'node:test'
import {pathToFileURL} from 'node:url'

import {packageRoot, shipped} from '../../src/paths.js'
import {scratch} from '../support/cli.js'
import type {FileEdge} from '../../scripts/import-cycles.mjs'

// Issue 11, item 4: no import cycle between the folders of src/ and commands/ (type-only
// and lazy imports count), nor between the files of one folder. The rule and its allowed
// edges live in scripts/import-cycles.mjs, which `npm run lint` runs too; it is loaded from
// the source tree, since the build does not copy scripts/.
const {checkCycles, cycles, describeCycle, fileGraphWithinFolders, folderGraph, impurities, PURE, verdict, without} =
  await import(pathToFileURL(shipped('scripts', 'import-cycles.mjs')).href) as typeof import('../../scripts/import-cycles.mjs')

const tree = await scratch('berth-pure-')

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

  it('the pure folders reach no I/O library, through any chain of imports', async () => {
    const result = await checked
    assert.ok(Object.keys(PURE).includes('src/spec') && Object.keys(PURE).includes('src/layout'))
    assert.deepEqual(result.impure, [], verdict(result).join('\n\n'))
  })

  it('finds an I/O library a pure folder reaches on purpose, two imports away, type-only and lazy ones too', async () => {
    const files: Record<string, string> = {
      'src/spec/checks.ts': "import {hostOf} from '../util.js'\nexport const ok = hostOf\n",
      'src/util.ts': "import type {Etcd3} from 'etcd3'\nexport const hostOf = (c?: Etcd3) => c\n",
      'src/spec/lazy.ts': "export const run = () => import('execa/index.js')\n",
      'src/spec/fine.ts': "import {createHash} from 'node:crypto'\nexport const h = createHash\n",
      'src/other/io.ts': "import Docker from 'dockerode'\nexport const d = Docker\n",
      'commands/run.ts': "import {ok} from '../src/spec/checks.js'\nexport default ok\n",
    }
    for (const [file, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(tree, file)), {recursive: true})
      await writeFile(path.join(tree, file), text)
    }
    const found = await impurities(tree, {'src/spec': 'test'})
    // Shortest chain first; node:crypto and the impure folder outside src/spec are no finding.
    assert.deepEqual(found, [
      {chain: ['src/spec/lazy.ts'], library: 'execa/index.js'},
      {chain: ['src/spec/checks.ts', 'src/util.ts'], library: 'etcd3'},
    ])
    const result = await checkCycles(tree, {}, {}, {'src/spec': 'test'})
    assert.match(verdict(result).join('\n'), /I\/O libraries reached from a pure folder [^]*\n {2}src\/spec\/checks\.ts -> src\/util\.ts imports etcd3/)
  })

  it('names a stale allowed edge', async () => {
    const result = await checkCycles(packageRoot, {'src/agent -> src/nowhere': 'gone'}, {'src/spec/types.ts -> src/spec/service.ts': 'no such cycle'})
    assert.deepEqual(result.stale, ['src/agent -> src/nowhere', 'src/spec/types.ts -> src/spec/service.ts'])
    assert.match(verdict(result).join('\n'), /take them out of scripts\/import-cycles\.mjs/)
  })
})
