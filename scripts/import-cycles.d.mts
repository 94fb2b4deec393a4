// Types for import-cycles.mjs, for test/harness/cycles.test.ts.

/** One import of one file by another, both relative to the repository's root. */
export interface FileEdge {
  from: string
  to: string
}

/** A graph as adjacency: node → the nodes it imports, each with the file imports that make the edge. */
export type Graph = Map<string, Map<string, FileEdge[]>>

/** Cycles found in one graph, and the text that names them. */
export interface Found {
  cycles: string[][]
  report: string
}

/** An I/O library reached from a pure folder: the files from the pure one to the one that imports it. */
export interface Impurity {
  chain: string[]
  library: string
}

/** What checkCycles found. */
export interface CycleCheck {
  folders: Found
  files: Found
  stale: string[]
  impure: Impurity[]
}

export const DIRS: string[]
export const ALLOWED: Record<string, string>
export const ALLOWED_FILES: Record<string, string>
export const PURE: Record<string, string>
export const IO_LIBRARIES: string[]
export function packagesOf(text: string): string[]
export function impurities(root: string, pure?: Record<string, string>, libraries?: string[]): Promise<Impurity[]>
export function sourceFiles(root: string, dirs: string[]): Promise<string[]>
export function importsOf(file: string, text: string): string[]
export function fileEdges(root: string, dirs: string[]): Promise<FileEdge[]>
export function graphOf(edges: FileEdge[], nodeOf: (file: string) => string): Graph
export const folderGraph: (edges: FileEdge[]) => Graph
export const fileGraphWithinFolders: (edges: FileEdge[]) => Graph
export function without(graph: Graph, allowed: Iterable<string>): Graph
export function cycles(graph: Graph): string[][]
export function components(graph: Graph): string[][]
export function describeCycle(graph: Graph, cycle: string[]): string
export function report(graph: Graph): string
export function staleOf(graph: Graph, allowed: Record<string, string>): string[]
export function checkCycles(root: string, allowed?: Record<string, string>, allowedFiles?: Record<string, string>, pure?: Record<string, string>): Promise<CycleCheck>
export function verdict(result: CycleCheck): string[]
