/**
 * A small reader of systemd unit files for tests, following systemd.syntax(7) and
 * systemd.service(7) "Command lines": line continuation, sections, `Key=Value`, specifier
 * expansion over the whole value, then word splitting with quotes and C escapes, then `$`
 * expansion. Unexpanded specifiers and variables come back as `<%x>` and `<$NAME>` so a
 * test sees any that slipped through.
 */

/** One directive in the order it appears: `Service/ExecStart`, and its raw value. */
export interface Directive {
  key: string
  value: string
}

/** Reads a unit file into its directives, each keyed `Section/Name`. */
export function parseUnit(content: string): Directive[] {
  const directives: Directive[] = []
  let section = ''
  let pending = ''
  for (const raw of content.split('\n')) {
    const line = raw.trim()
    if (pending === '' && (line.startsWith('#') || line.startsWith(';'))) continue
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `
      continue
    }
    const full = pending + line
    pending = ''
    if (full === '') continue
    const header = /^\[(.+)\]$/.exec(full)
    if (header) {
      section = header[1] as string
      continue
    }
    const eq = full.indexOf('=')
    if (eq < 0) throw new Error(`not a directive: ${full}`)
    directives.push({key: `${section}/${full.slice(0, eq).trim()}`, value: full.slice(eq + 1).trim()})
  }
  return directives
}

/** Splits an Exec*= value into argv as systemd would, after dropping the `-` prefix. */
export function parseCommandLine(value: string): string[] {
  const line = value.replace(/^[-@:+!]+/, '').replace(/%(.)/g, (_m, c: string) => (c === '%' ? '%' : `<%${c}>`))
  const words: string[] = []
  let i = 0
  while (i < line.length) {
    while (line[i] === ' ' || line[i] === '\t') i++
    if (i >= line.length) break
    if (line[i] === ';' && (i + 1 === line.length || line[i + 1] === ' ')) throw new Error('unquoted ; separates a second command')
    let word = ''
    let quote: string | undefined
    for (; i < line.length; i++) {
      const c = line[i] as string
      if (quote === undefined && (c === ' ' || c === '\t')) break
      if (c === '\\') {
        const next = line[++i]
        const escapes: Record<string, string> = {'\\': '\\', '"': '"', "'": "'", n: '\n', t: '\t', s: ' '}
        if (next === undefined || escapes[next] === undefined) throw new Error(`invalid escape \\${next ?? ''}`)
        word += escapes[next]
      } else if (quote === undefined && (c === '"' || c === "'")) {
        quote = c
      } else if (c === quote) {
        quote = undefined
      } else {
        word += c
      }
    }
    if (quote !== undefined) throw new Error('unterminated quote')
    words.push(word)
  }
  return words.map(expandVariables)
}

function expandVariables(word: string): string {
  return word.replace(/\$(\$|\{([^}]*)\}|[A-Za-z_][A-Za-z0-9_]*)/g, (_m, what: string, braced?: string) =>
    what === '$' ? '$' : `<$${braced ?? what}>`,
  )
}
