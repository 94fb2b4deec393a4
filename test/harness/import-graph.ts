// The import graph of berth's own TypeScript, read with the compiler's pre-processor (every
// `import`, `import type`, `export ... from` and `import()` of a relative path), and the
// cycles in it: between folders (src/a/x.ts importing src/b/y.ts is an edge a → b; a
// subfolder is a folder of its own) and between the files of one folder.

import {readFile, readdir} from 'node:fs/promises'
import path from 'node:path'

import ts from 'typescript'

/** One import of one file by another, both relative to the repository's root. */
export interface FileEdge {
  from: string
  to: string
}

/** Every .ts file under `dirs` (relative to `root`), sorted. */
export async function sourceFiles(root: string, dirs: string[]): Promise<string[]> {
  const files: string[] = []
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(path.join(root, dir), {withFileTypes: true})) {
      const rel = path.posix.join(dir, entry.name)
      if (entry.isDirectory()) await walk(rel)
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.push(rel)
    }
  }
  for (const dir of dirs) await walk(dir)
  return files.sort()
}

/** The files that `file`'s text imports by a relative path (`./x.js` is read as `./x.ts`). */
export function importsOf(file: string, text: string): string[] {
  return ts.preProcessFile(text, true, true).importedFiles
    .map((i) => i.fileName)
    .filter((name) => name.startsWith('.'))
    .map((name) => path.posix.normalize(path.posix.join(path.posix.dirname(file), name.replace(/\.js$/, '.ts'))))
}

/** Every relative import of the repository's files under `dirs`. */
export async function fileEdges(root: string, dirs: string[]): Promise<FileEdge[]> {
  const edges: FileEdge[] = []
  for (const from of await sourceFiles(root, dirs)) {
    for (const to of importsOf(from, await readFile(path.join(root, from), 'utf8'))) edges.push({from, to})
  }
  return edges
}

/** A graph as adjacency: node → the nodes it imports, each with the file imports that make the edge. */
export type Graph = Map<string, Map<string, FileEdge[]>>

/** The graph of `edges` between the nodes `nodeOf` names (an edge within one node is left out). */
export function graphOf(edges: FileEdge[], nodeOf: (file: string) => string): Graph {
  const graph: Graph = new Map()
  for (const edge of edges) {
    const a = nodeOf(edge.from)
    const b = nodeOf(edge.to)
    if (a === b) continue
    if (!graph.has(a)) graph.set(a, new Map())
    const out = graph.get(a)!
    out.set(b, [...(out.get(b) ?? []), edge])
  }
  return graph
}

/** The folder-level graph: a file's node is its folder. */
export const folderGraph = (edges: FileEdge[]): Graph => graphOf(edges, (file) => path.posix.dirname(file))

/** The file-level graph within each folder: only imports between files of the same folder. */
export const fileGraphWithinFolders = (edges: FileEdge[]): Graph =>
  graphOf(edges.filter((e) => path.posix.dirname(e.from) === path.posix.dirname(e.to)), (file) => file)

/** The graph without the edges `allowed` names as "a -> b". */
export function without(graph: Graph, allowed: Iterable<string>): Graph {
  const skip = new Set(allowed)
  return new Map([...graph].map(([a, out]) => [a, new Map([...out].filter(([b]) => !skip.has(`${a} -> ${b}`)))]))
}

/**
 * One cycle through each strongly connected component, each the shortest cycle through the
 * component's first node, as the list of its nodes with the first repeated at the end.
 * None: the graph is acyclic.
 */
export function cycles(graph: Graph): string[][] {
  return components(graph).map((c) => shortestCycle(graph, c))
}

/** The strongly connected components of more than one node (Tarjan's algorithm), each sorted: the nodes caught in a cycle. */
export function components(graph: Graph): string[][] {
  const nodes = [...new Set([...graph.keys(), ...[...graph.values()].flatMap((out) => [...out.keys()])])].sort()
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const components: string[][] = []
  const connect = (v: string): void => {
    index.set(v, index.size)
    low.set(v, index.get(v)!)
    stack.push(v)
    onStack.add(v)
    for (const w of [...(graph.get(v)?.keys() ?? [])].sort()) {
      if (!index.has(w)) {
        connect(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!))
    }
    if (low.get(v) !== index.get(v)) return
    const component: string[] = []
    let w: string
    do {
      w = stack.pop()!
      onStack.delete(w)
      component.push(w)
    } while (w !== v)
    if (component.length > 1) components.push(component.sort())
  }
  for (const v of nodes) if (!index.has(v)) connect(v)
  return components.sort((a, b) => a[0]!.localeCompare(b[0]!))
}

/** The shortest path from the component's first node back to itself, inside the component (breadth first). */
function shortestCycle(graph: Graph, component: string[]): string[] {
  const inside = new Set(component)
  const start = component[0]!
  const parent = new Map<string, string>()
  const queue = [start]
  while (queue.length > 0) {
    const v = queue.shift()!
    for (const w of [...(graph.get(v)?.keys() ?? [])].sort()) {
      if (!inside.has(w)) continue
      if (w === start) {
        const path = [v]
        while (path[0] !== start) path.unshift(parent.get(path[0]!)!)
        return [...path, start]
      }
      if (!parent.has(w)) {
        parent.set(w, v)
        queue.push(w)
      }
    }
  }
  return component
}

/** A cycle as text, each hop with one file import that makes it: what a failing test prints. */
export function describeCycle(graph: Graph, cycle: string[]): string {
  const hops = cycle.slice(1).map((b, i) => {
    const a = cycle[i]!
    const edge = graph.get(a)?.get(b)?.[0]
    return `  ${a} -> ${b}${edge ? `   (${edge.from} imports ${edge.to})` : ''}`
  })
  return `${cycle.join(' -> ')}\n${hops.join('\n')}`
}
