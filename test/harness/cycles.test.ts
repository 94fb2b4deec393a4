import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {packageRoot} from '../../src/paths.js'
import {components, cycles, describeCycle, fileEdges, fileGraphWithinFolders, folderGraph, type FileEdge, type Graph, without} from './import-graph.js'

// Issue 11, item 4: no import cycle between the folders of src/ and commands/ (type-only
// and lazy imports count), nor between the files of one folder.
const DIRS = ['src', 'commands']

/**
 * Folder edges that close a cycle and stay for now, each with the reason. The graph is
 * checked without them, so any other cycle fails the test; an entry whose edge is gone, or
 * closes no cycle any more, fails it too (take it out).
 */
const ALLOWED: Record<string, string> = {}

/** File edges within a folder that close a cycle and stay for now, each with the reason (as ALLOWED). */
const ALLOWED_FILES: Record<string, string> = {
  // service.ts (the spec's types and validation) calls checks.ts's specProblems, and
  // checks.ts, env-file.ts and quantities.ts take the spec's types from service.ts. The fix
  // is the types in a file of their own (spec/types.ts); src/spec/ is another engineer's
  // work in progress.
  'src/spec/service.ts -> src/spec/checks.ts': 'the spec types live in service.ts; src/spec/ is being changed elsewhere',
  // Type-only, both ways: routes.ts's ApiDeps takes QuartermasterDeps, and quartermaster.ts
  // takes ApiDeps. The fix is the deps types in a file of their own (api/deps.ts); routes.ts
  // is being changed elsewhere (new routes).
  'src/agent/api/quartermaster.ts -> src/agent/api/routes.ts': 'type-only both ways (ApiDeps, QuartermasterDeps); routes.ts is being changed elsewhere',
}

/** Each cycle with the imports that make it, and every node caught with it. */
function report(graph: Graph): string {
  return components(graph).map((c, i) => `${c.length} caught together: ${c.join(', ')}\none cycle: ${describeCycle(graph, cycles(graph)[i]!)}`).join('\n\n')
}

/** The allowed edges that are not in the graph, or no longer inside one of its cycles. */
function staleOf(graph: Graph, allowed: Record<string, string>): string[] {
  const caught = components(graph)
  return Object.keys(allowed).filter((edge) => {
    const [a, b] = edge.split(' -> ')
    return !graph.get(a!)?.has(b!) || !caught.some((c) => c.includes(a!) && c.includes(b!))
  })
}

describe('import cycles', () => {
  it('the folders of src/ and commands/ form none', async () => {
    const graph = folderGraph(await fileEdges(packageRoot, DIRS))
    const checked = without(graph, Object.keys(ALLOWED))
    assert.deepEqual(cycles(checked), [], `import cycles between folders (move the shared code to a folder both can import):\n${report(checked)}`)
  })

  it('every allowed edge still closes a cycle', async () => {
    const edges = await fileEdges(packageRoot, DIRS)
    const stale = [...staleOf(folderGraph(edges), ALLOWED), ...staleOf(fileGraphWithinFolders(edges), ALLOWED_FILES)]
    assert.deepEqual(stale, [], 'these allowed edges are gone or close no cycle now: take them out of ALLOWED or ALLOWED_FILES')
  })

  it('the files of each folder form none', async () => {
    const graph = without(fileGraphWithinFolders(await fileEdges(packageRoot, DIRS)), Object.keys(ALLOWED_FILES))
    assert.deepEqual(cycles(graph), [], `import cycles between the files of a folder:\n${report(graph)}`)
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
})
