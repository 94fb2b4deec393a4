// The inventory of programs berth runs on the provisioning host, and the check that each
// one comes from a package scripts/setup.sh installs or one a fresh machine already has.

import {readFile, readdir} from 'node:fs/promises'
import path from 'node:path'

import {packageRoot} from '../../src/paths.js'
import {type Finding, scanShell} from './shell-scan.js'
import {type Scan, scanSource} from './source-scan.js'

/** test/harness/programs.json: the committed half of the inventory. */
export interface Inventory {
  /** The packages a new Debian 12 machine with Node.js 20 and PostgreSQL 15 comes with. */
  fresh: {packages: string[]}
  /** Program (a name on PATH or an absolute path) → the Debian package that installs it. */
  programs: Record<string, string>
  /** Python module (imported by a `python3 -c` script) → the Debian package that installs it. */
  pythonModules: Record<string, string>
  /** Programs found in these files that run elsewhere (in a node or an image), and why. */
  elsewhere: {program: string; files: string[]; why: string}[]
  /** What a file runs through a launch whose program the scan cannot read. */
  indirect: {file: string; programs: string[]; why: string}[]
}

export const INVENTORY = 'test/harness/programs.json'
const SETUP = 'scripts/setup.sh'

// Where host-side code lives. Images' Dockerfiles and the files copied into them (images/,
// installer/, examples/) run inside containers; test/fixtures holds data.
const SOURCE_DIRS = ['src', 'commands', 'test', 'bench', 'scripts', 'bin']
const SHELL_FILES = ['.ci/run']
// Top-level folders the scan leaves out on purpose, and why; a new folder must be in one list or the other.
const NOT_SCANNED: Record<string, string> = {
  '.ci': 'its one script, .ci/run, is scanned as a file',
  images: 'Dockerfiles and files copied into the node image: they run in nodes',
  installer: "the installer image's Dockerfile and templates: they run in nodes",
  examples: "the example service's image: it runs in nodes",
  vagrant: "the Vagrantfile: Ruby that Vagrant runs; its inline provisioner runs in the node",
  'cloud-config': 'first-boot unit templates: they run in nodes',
  schema: 'JSON Schemas and the example cluster.yaml: data',
  '.git': 'git', node_modules: 'dependencies', dist: 'the build output',
}
const SKIPPED = ['test/fixtures']
// The scanner's own files carry snippets that must fail, as test data.
const SELF = ['test/harness/shell-scan.ts', 'test/harness/source-scan.ts', 'test/harness/inventory.ts', 'test/harness/programs.test.ts', 'test/harness/programs-dpkg.test.ts']

/** Reads the committed inventory. */
export async function readInventory(): Promise<Inventory> {
  return JSON.parse(await readFile(path.join(packageRoot, INVENTORY), 'utf8')) as Inventory
}

/** The PACKAGES array of setup.sh, comments dropped. */
export function setupPackages(text: string): string[] {
  const body = text.match(/^PACKAGES=\(([\s\S]*?)^\)/m)?.[1]
  if (body === undefined) throw new Error(`${SETUP} has no PACKAGES=( ... ) array`)
  return body.split('\n').flatMap((line) => line.replace(/(^|\s)#.*$/, '').trim().split(/\s+/).filter(Boolean))
}

/** Reads setup.sh's package list. */
export async function readSetupPackages(): Promise<string[]> {
  return setupPackages(await readFile(path.join(packageRoot, SETUP), 'utf8'))
}

/** Scans one file by its kind: a script by its `#!` line or `.sh`, else TypeScript/JavaScript source. */
export function scanFile(file: string, text: string): Scan {
  if (file.endsWith('.sh') || /^#!.*\b(ba)?sh\b/.test(text)) {
    const absolute = scanSource(file, text).findings.filter((f) => f.program.startsWith('/'))
    return {findings: [...scanShell(file, text), ...absolute], unreadable: []}
  }
  return scanSource(file, text)
}

/** Top-level folders of the repository that neither the scan nor NOT_SCANNED accounts for. */
export async function unaccountedFolders(): Promise<string[]> {
  const entries = await readdir(packageRoot, {withFileTypes: true})
  return entries.filter((e) => e.isDirectory() && !SOURCE_DIRS.includes(e.name) && !(e.name in NOT_SCANNED)).map((e) => e.name)
}

/** Scans every host-side file of the repository. */
export async function scanRepository(): Promise<Scan> {
  const files = [...SHELL_FILES]
  for (const dir of SOURCE_DIRS) {
    for (const entry of await readdir(path.join(packageRoot, dir), {recursive: true, withFileTypes: true})) {
      const file = path.relative(packageRoot, path.join(entry.parentPath ?? entry.path, entry.name))
      if (entry.isFile() && /\.(ts|mjs|js|sh)$/.test(file) && !SELF.includes(file) && !SKIPPED.some((s) => file.startsWith(`${s}/`))) files.push(file)
    }
  }
  const scan: Scan = {findings: [], unreadable: []}
  for (const file of files.sort()) {
    const one = scanFile(file, await readFile(path.join(packageRoot, file), 'utf8'))
    scan.findings.push(...one.findings)
    scan.unreadable.push(...one.unreadable)
  }
  return scan
}

/**
 * Every way the scan and the inventory disagree, one line each, naming the file, the
 * program and the fix; also stale entries, so the inventory stays what the code runs.
 */
export function inventoryProblems(scan: Scan, inventory: Inventory, installed: string[]): string[] {
  const problems: string[] = []
  const usedPackages = new Set<string>()
  const usedPrograms = new Set<string>()
  const usedElsewhere = new Set<number>()
  const explained = new Set(scan.unreadable.map((u) => u.file))
  const indirect: Finding[] = inventory.indirect.flatMap((entry) => entry.programs.map((program) => ({file: entry.file, line: 0, program})))
  for (const u of scan.unreadable) {
    if (!inventory.indirect.some((entry) => entry.file === u.file)) {
      problems.push(`${u.file}:${u.line}: runs the program named by \`${u.argument}\`, which the scan cannot read: list what it runs under "indirect" in ${INVENTORY}`)
    }
  }
  for (const entry of inventory.indirect) {
    if (!explained.has(entry.file)) problems.push(`${INVENTORY}: indirect: ${entry.file} no longer names a program through an expression: remove its entry`)
  }
  const seen = new Set<string>()
  for (const f of [...scan.findings, ...indirect]) {
    const key = `${f.file}\0${f.program}`
    if (seen.has(key)) continue
    seen.add(key)
    const where = f.line > 0 ? `${f.file}:${f.line}` : `${f.file} (indirect)`
    const away = inventory.elsewhere.findIndex((e) => e.program === f.program && e.files.includes(f.file))
    if (away >= 0) {
      usedElsewhere.add(away)
      continue
    }
    const module = f.program.startsWith('python3:') ? f.program.slice('python3:'.length) : undefined
    const pkg = module === undefined ? inventory.programs[f.program] : inventory.pythonModules[module]
    usedPrograms.add(f.program)
    const what = module === undefined ? `runs ${f.program}` : `imports the Python module ${module}`
    if (pkg === undefined) {
      const entry = module === undefined ? `"programs": {"${f.program}": "<package>"}` : `"pythonModules": {"${module}": "<package>"}`
      problems.push(`${where}: ${what}, which ${INVENTORY} maps to no Debian package: add ${entry} there (dpkg -S tells which) and the package to PACKAGES in ${SETUP}`)
      continue
    }
    usedPackages.add(pkg)
    if (!installed.includes(pkg) && !inventory.fresh.packages.includes(pkg)) {
      problems.push(`${where}: ${what}, from the Debian package ${pkg}, which ${SETUP} does not install: add ${pkg} to its PACKAGES, with a comment saying who uses it`)
    }
  }
  for (const pkg of installed) {
    if (!usedPackages.has(pkg)) problems.push(`${SETUP}: installs ${pkg}, but nothing scanned runs a program of it: remove it, or map the program that needs it in ${INVENTORY}`)
  }
  for (const program of Object.keys(inventory.programs)) {
    if (!usedPrograms.has(program)) problems.push(`${INVENTORY}: programs: nothing scanned runs ${program}: remove its entry`)
  }
  for (const module of Object.keys(inventory.pythonModules)) {
    if (!usedPrograms.has(`python3:${module}`)) problems.push(`${INVENTORY}: pythonModules: nothing scanned imports ${module}: remove its entry`)
  }
  inventory.elsewhere.forEach((entry, i) => {
    if (!usedElsewhere.has(i)) problems.push(`${INVENTORY}: elsewhere: ${entry.program} is no longer found in ${entry.files.join(', ')}: remove the entry`)
  })
  return problems
}
