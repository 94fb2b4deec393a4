import {UsageError} from '../errors.js'

/**
 * The one gate between user values and unit files. systemd reads a unit line by line, expands
 * `%` specifiers over the whole line before splitting it into words, then expands `$VAR` in
 * each word; a newline in a value would therefore start a new directive, and a bare `%h` or
 * `$HOME` would be replaced by the node's own values. Every user value that reaches a unit
 * goes through {@link systemdWord}, which refuses the first and neutralises the others.
 */

// C0 controls (newline, NUL, tab, carriage return ...), DEL and the C1 block, which some
// parsers treat as line breaks (U+0085) or terminal escapes.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const unsafeCharacter = /[\u0000-\u001f\u007f-\u009f]/u

// Words made only of these need no quotes: none is special to systemd's command-line parser
// (no quote, backslash, `;`, `%`, `$` or whitespace), which keeps rendered units readable.
const plainWord = /^[A-Za-z0-9_@+=:,./-]+$/

/** Where a value came from, for the error a bad one raises (`services/web/command/2`). */
export interface ValueSource {
  file?: string
  path?: string
}

/** Returns a description of the first character a unit file must never contain, or undefined. */
export function unsafeCharacterIn(value: string): string | undefined {
  const match = unsafeCharacter.exec(value)
  if (!match) return undefined
  const code = match[0].codePointAt(0) ?? 0
  const name = code === 0x0a ? 'a newline' : code === 0 ? 'a NUL byte' : `control character U+${code.toString(16).padStart(4, '0').toUpperCase()}`
  return `${name} at offset ${match.index}`
}

/**
 * Turns one argv word into text that systemd's ExecStart= parser reads back as exactly that
 * word: control characters are refused, `%` becomes `%%`, `$` becomes `$$`, and anything
 * beyond a plain word is double-quoted with `\` and `"` backslash-escaped.
 */
export function systemdWord(value: string, source: ValueSource = {}): string {
  // Most words (flags, names, paths) are plain; they need neither checks nor escapes.
  if (plainWord.test(value)) return value
  const unsafe = unsafeCharacterIn(value)
  if (unsafe !== undefined) {
    throw new UsageError([{...source, message: `contains ${unsafe}`, fix: 'remove line breaks and control characters from the value'}])
  }
  // Specifiers are expanded on the raw line, before quotes mean anything, so `%` is doubled
  // even inside quotes; `$$` is systemd's own escape for a literal dollar.
  const escaped = value.replaceAll('%', () => '%%').replaceAll('$', () => '$$')
  return `"${escaped.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`
}

/** Renders an argv array as one systemd command line, each word through {@link systemdWord}. */
export function systemdCommandLine(argv: readonly string[], source: ValueSource = {}): string {
  return argv.map((word) => systemdWord(word, source)).join(' ')
}
