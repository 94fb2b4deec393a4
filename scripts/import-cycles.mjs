// The import graph of berth's own TypeScript, read with the compiler's pre-processor (every
// `import`, `import type`, `export ... from` and `import()` of a relative path), and the
// cycles in it: between folders (src/a/x.ts importing src/b/y.ts is an edge a → b; a
// subfolder is a folder of its own) and between the files of one folder.
//
// Plain JavaScript so that `npm run lint` can run it before anything is built:
//   node scripts/import-cycles.mjs    exits 1 naming every cycle and the imports that make it.
// test/harness/cycles.test.ts runs the same check; its types are in import-cycles.d.mts.

import {readFile, readdir} from 'node:fs/promises'
import path from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

import ts from 'typescript'

/** The folders whose files the rule covers: no cycle between their folders, nor between the files of one folder. */
export const DIRS = ['src', 'commands']

/**
 * Folder edges ("src/a -> src/b") that close a cycle and stay for now, each with the reason.
 * The graph is checked without them, so any other cycle fails; an entry whose edge is gone,
 * or closes no cycle any more, fails too (take it out).
 */
export const ALLOWED = {}

/** File edges within a folder ("src/a/x.ts -> src/a/y.ts") that close a cycle and stay for now, each with the reason (as ALLOWED). */
export const ALLOWED_FILES = {}

/**
 * The pure folders, each with what it holds: what their files import, and everything that
 * imports in turn, reaches no I/O library (IO_LIBRARIES). Reading a shipped template or
 * schema from the package is allowed; talking to etcd, dockerd, a database, SSH, a process,
 * the network or a terminal is not.
 */
export const PURE = {
  'src/spec': 'the service spec: types, defaults, checks, names',
  'src/layout': 'etcd keys, node paths, unit and image names',
  'src/machine': 'the machine seam: the interface and its error',
  'src/agent/plan': 'what a pass does, from the desired and the observed state',
}

/** The libraries that reach outside the process: clients of other systems, processes, sockets, the terminal. */
export const IO_LIBRARIES = ['etcd3', 'dockerode', 'pg', 'ssh2', 'execa', '@aws-sdk/client-kms', 'listr2', 'node:child_process', 'node:net', 'node:http', 'node:https', 'node:tls', 'node:dgram']

/** Every .ts file under `dirs` (relative to `root`), sorted. */
export async function sourceFiles(root, dirs) {
  const files = []
  const walk = async (dir) => {
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
export function importsOf(file, text) {
  return ts.preProcessFile(text, true, true).importedFiles
    .map((i) => i.fileName)
    .filter((name) => name.startsWith('.'))
    .map((name) => path.posix.normalize(path.posix.join(path.posix.dirname(file), name.replace(/\.js$/, '.ts'))))
}

/** The packages (not relative paths) that `text` imports, type-only and lazy imports included. */
export function packagesOf(text) {
  return ts.preProcessFile(text, true, true).importedFiles.map((i) => i.fileName).filter((name) => !name.startsWith('.'))
}

/** An import of an I/O library reached from a pure folder: the chain of files from the pure one to the importer. */
export async function impurities(root, pure = PURE, libraries = IO_LIBRARIES) {
  const found = []
  const texts = new Map()
  const textOf = async (file) => {
    if (!texts.has(file)) texts.set(file, await readFile(path.join(root, file), 'utf8').catch(() => ''))
    return texts.get(file)
  }
  for (const start of (await sourceFiles(root, Object.keys(pure)))) {
    // Breadth first from each pure file, so each library is reported with its shortest chain.
    const chains = new Map([[start, [start]]])
    for (const queue = [start]; queue.length > 0;) {
      const file = queue.shift()
      const text = await textOf(file)
      for (const library of packagesOf(text).filter((name) => libraries.some((io) => name === io || name.startsWith(`${io}/`)))) found.push({chain: chains.get(file), library})
      for (const next of importsOf(file, text)) {
        if (chains.has(next)) continue
        chains.set(next, [...chains.get(file), next])
        queue.push(next)
      }
    }
  }
  // Each importer once, by its shortest chain (the importer itself, when it is pure).
  const seen = new Set()
  return found.sort((a, b) => a.chain.length - b.chain.length).filter(({chain, library}) => {
    const key = `${chain.at(-1)} ${library}`
    return !seen.has(key) && seen.add(key)
  })
}

/** Every relative import of the repository's files under `dirs`. */
export async function fileEdges(root, dirs) {
  const edges = []
  for (const from of await sourceFiles(root, dirs)) {
    for (const to of importsOf(from, await readFile(path.join(root, from), 'utf8'))) edges.push({from, to})
  }
  return edges
}

/** The graph of `edges` between the nodes `nodeOf` names (an edge within one node is left out). */
export function graphOf(edges, nodeOf) {
  const graph = new Map()
  for (const edge of edges) {
    const a = nodeOf(edge.from)
    const b = nodeOf(edge.to)
    if (a === b) continue
    if (!graph.has(a)) graph.set(a, new Map())
    const out = graph.get(a)
    out.set(b, [...(out.get(b) ?? []), edge])
  }
  return graph
}

/** The folder-level graph: a file's node is its folder. */
export const folderGraph = (edges) => graphOf(edges, (file) => path.posix.dirname(file))

/** The file-level graph within each folder: only imports between files of the same folder. */
export const fileGraphWithinFolders = (edges) =>
  graphOf(edges.filter((e) => path.posix.dirname(e.from) === path.posix.dirname(e.to)), (file) => file)

/** The graph without the edges `allowed` names as "a -> b". */
export function without(graph, allowed) {
  const skip = new Set(allowed)
  return new Map([...graph].map(([a, out]) => [a, new Map([...out].filter(([b]) => !skip.has(`${a} -> ${b}`)))]))
}

/**
 * One cycle through each strongly connected component, each the shortest cycle through the
 * component's first node, as the list of its nodes with the first repeated at the end.
 * None: the graph is acyclic.
 */
export function cycles(graph) {
  return components(graph).map((c) => shortestCycle(graph, c))
}

/** The strongly connected components of more than one node (Tarjan's algorithm), each sorted: the nodes caught in a cycle. */
export function components(graph) {
  const nodes = [...new Set([...graph.keys(), ...[...graph.values()].flatMap((out) => [...out.keys()])])].sort()
  const index = new Map()
  const low = new Map()
  const stack = []
  const onStack = new Set()
  const found = []
  const connect = (v) => {
    index.set(v, index.size)
    low.set(v, index.get(v))
    stack.push(v)
    onStack.add(v)
    for (const w of [...(graph.get(v)?.keys() ?? [])].sort()) {
      if (!index.has(w)) {
        connect(w)
        low.set(v, Math.min(low.get(v), low.get(w)))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)))
    }
    if (low.get(v) !== index.get(v)) return
    const component = []
    let w
    do {
      w = stack.pop()
      onStack.delete(w)
      component.push(w)
    } while (w !== v)
    if (component.length > 1) found.push(component.sort())
  }
  for (const v of nodes) if (!index.has(v)) connect(v)
  return found.sort((a, b) => a[0].localeCompare(b[0]))
}

/** The shortest path from the component's first node back to itself, inside the component (breadth first). */
function shortestCycle(graph, component) {
  const inside = new Set(component)
  const start = component[0]
  const parent = new Map()
  const queue = [start]
  while (queue.length > 0) {
    const v = queue.shift()
    for (const w of [...(graph.get(v)?.keys() ?? [])].sort()) {
      if (!inside.has(w)) continue
      if (w === start) {
        const hops = [v]
        while (hops[0] !== start) hops.unshift(parent.get(hops[0]))
        return [...hops, start]
      }
      if (!parent.has(w)) {
        parent.set(w, v)
        queue.push(w)
      }
    }
  }
  return component
}

/** A cycle as text, each hop with one file import that makes it. */
export function describeCycle(graph, cycle) {
  const hops = cycle.slice(1).map((b, i) => {
    const a = cycle[i]
    const edge = graph.get(a)?.get(b)?.[0]
    return `  ${a} -> ${b}${edge ? `   (${edge.from} imports ${edge.to})` : ''}`
  })
  return `${cycle.join(' -> ')}\n${hops.join('\n')}`
}

/** Each cycle of `graph` with the imports that make it, and every node caught with it. */
export function report(graph) {
  return components(graph).map((c, i) => `${c.length} caught together: ${c.join(', ')}\none cycle: ${describeCycle(graph, cycles(graph)[i])}`).join('\n\n')
}

/** The allowed edges that are not in the graph, or no longer inside one of its cycles. */
export function staleOf(graph, allowed) {
  const caught = components(graph)
  return Object.keys(allowed).filter((edge) => {
    const [a, b] = edge.split(' -> ')
    return !graph.get(a)?.has(b) || !caught.some((c) => c.includes(a) && c.includes(b))
  })
}

/**
 * The rule over the repository at `root`: the cycles between folders and between the files
 * of a folder (each without its allowed edges), the allowed edges that are stale, and the
 * I/O libraries the pure folders reach.
 */
export async function checkCycles(root, allowed = ALLOWED, allowedFiles = ALLOWED_FILES, pure = PURE) {
  const edges = await fileEdges(root, DIRS)
  const folders = without(folderGraph(edges), Object.keys(allowed))
  const files = without(fileGraphWithinFolders(edges), Object.keys(allowedFiles))
  return {
    folders: {cycles: cycles(folders), report: report(folders)},
    files: {cycles: cycles(files), report: report(files)},
    stale: [...staleOf(folderGraph(edges), allowed), ...staleOf(fileGraphWithinFolders(edges), allowedFiles)],
    impure: await impurities(root, pure),
  }
}

/** The rule's verdict as the lines `npm run lint` prints; none when it holds. */
export function verdict(result) {
  const lines = []
  if (result.folders.cycles.length > 0) lines.push(`import cycles between folders (move the shared code to a folder both can import):\n${result.folders.report}`)
  if (result.files.cycles.length > 0) lines.push(`import cycles between the files of a folder (move the shared part to a file both can import):\n${result.files.report}`)
  if (result.impure.length > 0) lines.push(`I/O libraries reached from a pure folder (${Object.keys(PURE).join(', ')}; move the I/O to the caller and hand the pure code its result):\n${result.impure.map(({chain, library}) => `  ${chain.join(' -> ')} imports ${library}`).join('\n')}`)
  if (result.stale.length > 0) lines.push(`allowed edges that are gone or close no cycle now (take them out of scripts/import-cycles.mjs): ${result.stale.join(', ')}`)
  return lines
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const root = fileURLToPath(new URL('..', import.meta.url))
  const lines = verdict(await checkCycles(root))
  if (lines.length > 0) {
    console.error(lines.join('\n\n'))
    process.exitCode = 1
  }
}
