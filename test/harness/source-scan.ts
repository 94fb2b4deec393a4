// Finds the programs a TypeScript or JavaScript file runs through execa or child_process,
// and the absolute program paths it names. Reading source text, not a syntax tree, keeps
// this dependency-free; the calls in this repository are regular enough for it.

import {type Finding, scanShell} from './shell-scan.js'

/** A launch whose program is an expression the scan cannot read: programs.json must say what it runs. */
export interface Unreadable {
  file: string
  line: number
  argument: string
}

/** What a file runs: the programs read from it, and the launches it could not read. */
export interface Scan {
  findings: Finding[]
  unreadable: Unreadable[]
}

const LAUNCH = /(?<![\w$.])(execa|execaSync|spawn|spawnSync|execFile|execFileSync)\s*\(\s*|\.pipe\(\s*(?=['"`])/g
// execa's template form: execa`docker ps`, execa(options)`docker ps`.
const TEMPLATE = /(?<![\w$.])execa(?:Sync)?\s*(?:\([^()]*\))?\s*`/g
// child_process's exec and execSync take a shell command line.
const SHELL_LAUNCH = /(?<![\w$.])(exec|execSync)\s*\(\s*/g
const IMPORTS_EXEC = /import\s*\{[^}]*\bexec(?:Sync)?\b[^}]*\}\s*from\s*['"](?:node:)?child_process['"]/
// Program paths a Debian package installs; /usr/local is never a package's, and is left to the images.
const ABSOLUTE = /(?<![\w./$-])(\/(?:usr\/)?s?bin\/[A-Za-z0-9][\w.+-]*|\/usr\/lib\/postgresql\/\d+\/bin(?:\/[\w.+-]+)?)/g

/** Scans one source file's text. */
export function scanSource(file: string, text: string): Scan {
  const lineAt = (index: number) => text.slice(0, index).split('\n').length
  const findings: Finding[] = []
  const unreadable: Unreadable[] = []
  const wrappers = new Set<string>()
  for (const m of text.matchAll(LAUNCH)) {
    const at = m.index + m[0].length
    const literal = stringAt(text, at)
    if (literal && !literal.interpolated) {
      findings.push({file, line: lineAt(m.index), program: literal.value})
      findings.push(...scriptOf(file, literal.value, text, literal.end, lineAt(m.index)))
      continue
    }
    const argument = text.slice(at).match(/^[\w$.]+/)?.[0] ?? text.slice(at, at + 20)
    if (argument === 'process.execPath') {
      findings.push({file, line: lineAt(m.index), program: 'node'})
      continue
    }
    const wrapper = wrapperOf(text.slice(0, m.index), argument)
    if (wrapper) wrappers.add(wrapper)
    else unreadable.push({file, line: lineAt(m.index), argument})
  }
  for (const m of text.matchAll(TEMPLATE)) {
    const template = stringAt(text, m.index + m[0].length - 1)
    const program = template?.value.trim().split(/\s+/)[0] ?? ''
    if (program && !program.startsWith('$')) findings.push({file, line: lineAt(m.index), program})
    else unreadable.push({file, line: lineAt(m.index), argument: text.slice(m.index, m.index + 30)})
  }
  if (IMPORTS_EXEC.test(text)) {
    for (const m of text.matchAll(SHELL_LAUNCH)) {
      const literal = stringAt(text, m.index + m[0].length)
      if (literal) findings.push(...scanShell(file, literal.value, lineAt(m.index)))
      else unreadable.push({file, line: lineAt(m.index), argument: text.slice(m.index + m[0].length).match(/^[\w$.]+/)?.[0] ?? '?'})
    }
  }
  // A local function that hands its parameter to execa: its calls with a string name programs too.
  for (const wrapper of wrappers) {
    for (const m of text.matchAll(new RegExp(`(?<![\\w$.])${wrapper}\\s*\\(\\s*(?=['"\`])`, 'g'))) {
      const literal = stringAt(text, m.index + m[0].length)
      if (literal && !literal.interpolated) findings.push({file, line: lineAt(m.index), program: literal.value})
    }
  }
  for (const m of text.matchAll(ABSOLUTE)) findings.push({file, line: lineAt(m.index), program: m[1]!})
  return {findings, unreadable}
}

/** The string literal that starts at `at`, if one does; each `${...}` of a template reads as `$_`. */
function stringAt(text: string, at: number): {value: string; end: number; interpolated: boolean} | undefined {
  const quote = text[at]
  if (quote !== "'" && quote !== '"' && quote !== '`') return undefined
  let value = ''
  let interpolated = false
  for (let i = at + 1; i < text.length; i++) {
    const c = text[i]!
    if (c === '\\') {
      const next = text[++i]
      value += next === 'n' ? '\n' : next === 't' ? '\t' : (next ?? '')
    } else if (c === quote) return {value, end: i + 1, interpolated}
    else if (quote === '`' && c === '$' && text[i + 1] === '{') {
      for (let depth = 0; i < text.length; i++) {
        if (text[i] === '{') depth++
        else if (text[i] === '}' && --depth === 0) break
      }
      value += '$_'
      interpolated = true
    } else value += c
  }
  return undefined
}

/** The programs inside a `sh -c SCRIPT` or `python3 -c CODE` argument that follows the program's name. */
function scriptOf(file: string, program: string, text: string, end: number, line: number): Finding[] {
  const name = program.split('/').at(-1)!
  if (!/^((ba)?sh|python3)$/.test(name)) return []
  const flag = text.slice(end).match(/^\s*,\s*\[\s*'-c'\s*,\s*/)
  const script = flag ? stringAt(text, end + flag[0].length) : undefined
  if (!script) return []
  if (name !== 'python3') return scanShell(file, script.value, line)
  const modules = [...script.value.matchAll(/(?:^|[;\n])\s*(?:import\s+([\w., ]+)|from\s+([\w.]+)\s+import)/g)]
    .flatMap((m) => (m[1] ?? m[2]!).split(','))
    .map((module) => module.trim().split(/[.\s]/)[0]!)
  return modules.map((module) => ({file, line, program: `python3:${module}`}))
}

/** The name of the function defined around a launch whose program is that function's parameter `argument`. */
function wrapperOf(before: string, argument: string): string | undefined {
  if (!/^[A-Za-z_$][\w$]*$/.test(argument)) return undefined
  const definition = new RegExp(
    `(?:function\\s*\\*?\\s*([\\w$]+)\\s*\\(|(?:const|let|var)\\s+([\\w$]+)\\s*=\\s*(?:async\\s*)?(?:function\\s*)?\\(|^\\s*(?:async\\s+)?([\\w$]+)\\s*\\()\\s*${argument.replace(/\$/g, '\\$')}\\b`,
    'gm',
  )
  const last = [...before.matchAll(definition)].at(-1)
  return last ? (last[1] ?? last[2] ?? last[3]) : undefined
}
