// Finds the programs a bash script runs: a small tokenizer and a command-position reader,
// enough for this repository's scripts (quotes, $(...), <(...), ${...}, heredocs, case
// patterns, [[ ]], functions). It errs towards reporting a word as a program, since a
// false report costs one line in programs.json and a missed one costs a fresh machine.

/** One program (a name, an absolute path, or `python3:MODULE`) that a file runs on this host. */
export interface Finding {
  file: string
  line: number
  program: string
}

interface Token {
  kind: 'word' | 'sep'
  text: string
  line: number
}

const BUILTINS = new Set([
  '.', ':', '[', 'alias', 'bg', 'break', 'builtin', 'caller', 'cd', 'compgen', 'complete', 'continue', 'declare', 'dirs', 'disown', 'echo',
  'enable', 'exit', 'export', 'false', 'fc', 'fg', 'getopts', 'help', 'history', 'jobs', 'kill', 'let', 'local', 'logout', 'mapfile',
  'popd', 'printf', 'pushd', 'pwd', 'read', 'readarray', 'readonly', 'return', 'set', 'shift', 'shopt', 'source', 'suspend', 'test', 'times',
  'true', 'typeset', 'ulimit', 'umask', 'unalias', 'unset', 'wait',
])
// Keywords after which the next word is again a command.
const LEADING = new Set(['if', 'then', 'else', 'elif', 'do', 'while', 'until', '!', '{', '}', 'time'])
// Programs and builtins that run the command that follows their options.
const RUNS_NEXT = new Set(['exec', 'setsid', 'nohup', 'env', 'nice', 'sudo', 'xargs', 'builtin'])
const NAME = /^(\/[\w./+-]+|[A-Za-z0-9_][\w.+-]*)$/

/** Scans one bash script (or a `sh -c` string found elsewhere, with `line` its first line). */
export function scanShell(file: string, text: string, line = 1): Finding[] {
  const functions = new Set([...text.matchAll(/^\s*(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\)/gm)].map((m) => m[1]!))
  const runners = commandRunners(text)
  const constants = new Map([...text.matchAll(/^\s*([A-Z_][A-Z0-9_]*)=(?:\$\{\w+:-)?["']?(\/[\w./+-]*)/gm)].map((m) => [m[1]!, m[2]!]))
  const found: Finding[] = []
  const record = (program: string, at: number) => {
    if (NAME.test(program)) found.push({file, line: at, program})
  }
  type State = 'cmd' | 'args' | 'for' | 'case' | 'test' | 'target' | 'skip' | 'runner' | 'runuser' | 'probe' | 'inner'
  let state = 'cmd' as State
  let command = ''
  let skip = 0
  const saved: State[] = []
  for (const token of tokenize(withoutHeredocs(text), line)) {
    if (token.kind === 'sep') {
      if (token.text === '$(') {
        saved.push(state)
        state = 'cmd'
      } else if (token.text === '$)') state = saved.pop() ?? 'args'
      else if (state === 'test') continue
      else if (token.text === ')') state = 'args'
      else state = 'cmd'
      continue
    }
    const w = token.text
    switch (state) {
      case 'test':
        if (w === ']]') state = 'args'
        continue
      case 'for':
        continue
      case 'case':
        if (w === 'in') state = 'cmd'
        continue
      case 'skip':
        if (--skip <= 0) state = 'cmd'
        continue
      case 'target':
        state = 'cmd'
        continue
      case 'probe':
        if (!w.startsWith('-')) {
          record(w, token.line)
          state = 'args'
        }
        continue
      case 'inner':
        // The string of `eval '...'`, `trap '...' SIG` or `sh -c '...'` is a script of its own.
        if (w.startsWith("'") && w.endsWith("'")) found.push(...scanShell(file, w.slice(1, -1), token.line))
        state = 'args'
        continue
      case 'runuser':
        if (w === '--') state = 'cmd'
        continue
      case 'runner':
        if (w.startsWith('-') || /^\w+=/.test(w)) continue
        state = 'cmd'
        break
      case 'args':
        if (w === '-c' && /^(ba)?sh$/.test(command)) state = 'inner'
        continue
    }
    // A command position.
    if (/^[A-Za-z_]\w*(\[[^\]]*\])?\+?=/.test(w)) continue // an assignment before the command
    if (/^\d*[<>]/.test(w)) {
      if (/^\d*[<>]+&?$/.test(w)) state = 'target'
      continue
    }
    if (LEADING.has(w)) continue
    if (/\)$/.test(w) && !w.includes('(')) continue // a case pattern
    if (w.endsWith('()')) continue // a function definition: its body follows
    state = 'args'
    command = w
    if (w === 'for' || w === 'select') state = 'for'
    else if (w === 'case') state = 'case'
    else if (w === '[[') state = 'test'
    else if (w === 'command' || w === 'type' || w === 'hash') state = 'probe'
    else if (w === 'eval' || w === 'trap') state = 'inner'
    else if (RUNS_NEXT.has(w)) {
      if (!BUILTINS.has(w) && w !== 'exec') record(w, token.line)
      state = 'runner'
    } else if (w === 'runuser') {
      record(w, token.line)
      state = 'runuser'
    } else if (runners.has(w)) {
      // A function of this script that runs its arguments (after `shift N`) as a command.
      skip = runners.get(w)!
      state = skip > 0 ? 'skip' : 'cmd'
    } else if (w.startsWith('$') || w.startsWith('"')) {
      const resolved = w.replace(/^"|"$/g, '').match(/^\$\{?([A-Z_][A-Z0-9_]*)\}?(\/.*)?$/)
      const base = resolved && constants.get(resolved[1]!)
      if (base) record(base + (resolved[2] ?? ''), token.line)
    } else if (!BUILTINS.has(w) && !functions.has(w) && !(w.includes('/') && !w.startsWith('/')) && !['fi', 'done', 'esac', 'in', 'function'].includes(w)) {
      record(w, token.line)
    }
  }
  return found
}

/** The script's functions that run `"$@"` as a command, each with the count of arguments it shifts off first. */
function commandRunners(text: string): Map<string, number> {
  const runners = new Map<string, number>()
  for (const m of text.matchAll(/^\s*(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\)\s*\{(.*)$/gm)) {
    const start = m.index + m[0].length
    const body = m[2]!.trimEnd().endsWith('}') ? m[2]! : text.slice(start, text.indexOf('\n}', start))
    if (!/(^|[;&|{(!]|\bthen|\bdo|\bsetsid|\bexec|--)\s*"\$@"/m.test(body)) continue
    const shift = body.match(/\bshift(?:\s+(\d+))?/)
    runners.set(m[1]!, shift ? Number(shift[1] ?? 1) : 0)
  }
  return runners
}

/** Blanks heredoc bodies (keeping the line count): they are data, not commands. */
function withoutHeredocs(text: string): string {
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const tag = lines[i]!.match(/<<-?\s*(['"]?)(\w+)\1/)?.[2]
    if (!tag || lines[i]!.trimStart().startsWith('#')) continue
    for (i++; i < lines.length; i++) {
      const end = lines[i]!.trim() === tag
      lines[i] = ''
      if (end) break
    }
  }
  return lines.join('\n')
}

/**
 * Splits a script into words and separators. A command substitution (`$(...)`, `<(...)`,
 * backticks) becomes the separators `$(` and `$)` around its tokens, emitted before the
 * word that contains it; quoted strings, `${...}`, `$((...))` and `((...))` stay inside words.
 */
function tokenize(text: string, firstLine: number): Token[] {
  const out: Token[] = []
  let word = ''
  let wordLine = firstLine
  let line = firstLine
  // Each level: the word being built when a substitution opened, and the parentheses open inside it.
  const levels: {word: string; line: number; depth: number; quoted: boolean; backtick: boolean}[] = []
  let depth = 0
  let quoted = false
  const add = (s: string) => {
    if (!word) wordLine = line
    word += s
  }
  const flush = () => {
    if (word) out.push({kind: 'word', text: word, line: wordLine})
    word = ''
  }
  const sep = (s: string) => {
    flush()
    out.push({kind: 'sep', text: s, line})
  }
  const open = (backtick = false) => {
    levels.push({word, line: wordLine, depth, quoted, backtick})
    word = ''
    depth = 0
    quoted = false
    out.push({kind: 'sep', text: '$(', line})
  }
  const close = () => {
    flush()
    out.push({kind: 'sep', text: '$)', line})
    const level = levels.pop()!
    word = level.word + '$()'
    wordLine = level.line
    depth = level.depth
    quoted = level.quoted
  }
  // Reads from i up to the closer that balances the opener, as one opaque piece of a word.
  const balanced = (i: number, opener: string, closer: string): number => {
    let n = 0
    let j = i
    for (; j < text.length; j++) {
      if (text.startsWith(opener, j)) n++
      else if (text.startsWith(closer, j) && --n === 0) break
      if (text[j] === '\n') line++
    }
    add(text.slice(i, j + closer.length))
    return j + closer.length - 1
  }
  const arrayEnd = (i: number): number => {
    let j = i + 1
    for (; j < text.length && text[j] !== ')'; j++) {
      if (text[j] === '#' && /\s/.test(text[j - 1]!)) j = (text.indexOf('\n', j) + 1 || text.length + 1) - 2
      else if (text[j] === '\n') line++
    }
    add(text.slice(i, j + 1))
    return j
  }
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    const next = text[i + 1]
    if (c === '\\') {
      if (next === '\n') {
        line++
        if (!quoted) flush()
      } else add(c + (next ?? ''))
      i++
      continue
    }
    if (c === '$' && next === '(' && text[i + 2] === '(') {
      i = balanced(i, '((', '))')
      continue
    }
    if (c === '$' && next === '(') {
      open()
      i++
      continue
    }
    if (c === '$' && next === '{') {
      i = balanced(i, '{', '}')
      continue
    }
    if (c === '`') {
      if (levels.at(-1)?.backtick && !quoted) close()
      else open(true)
      continue
    }
    if (quoted) {
      if (c === '"') quoted = false
      if (c === '\n') line++
      add(c)
      continue
    }
    if (c === '\n') {
      sep('\n')
      line++
      continue
    }
    if (c === ' ' || c === '\t') flush()
    else if (c === '#' && !word) {
      while (i + 1 < text.length && text[i + 1] !== '\n') i++
    } else if (c === "'") {
      const end = text.indexOf("'", i + 1)
      const stop = end === -1 ? text.length : end
      line += (text.slice(i, stop).match(/\n/g) ?? []).length
      add(text.slice(i, stop + 1))
      i = stop
    } else if (c === '"') {
      quoted = true
      add(c)
    } else if ((c === '<' || c === '>') && next === '(') {
      flush()
      open()
      i++
    } else if (c === ';' || c === '|' || (c === '&' && !/[<>]$/.test(word))) {
      const pair = next === c || (c === ';' && next === '&') || (c === '|' && next === '&')
      sep(pair ? c + next : c)
      if (pair) i++
    } else if (c === '(') {
      if (word.endsWith('=')) i = arrayEnd(i) // an array assignment, comments and all
      else if (next === '(') i = balanced(i, '((', '))')
      else if (next === ')') {
        add('()')
        i++
      } else {
        sep('(')
        depth++
      }
    } else if (c === ')') {
      if (depth > 0) {
        depth--
        sep(')')
      } else if (levels.length > 0 && !levels.at(-1)!.backtick) close()
      else {
        add(c) // a case pattern's end
        flush()
      }
    } else add(c)
  }
  flush()
  return out
}
