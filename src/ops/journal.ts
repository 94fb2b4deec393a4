import {StringDecoder} from 'node:string_decoder'

import {shellQuote} from '../recovery/node-commands.js'

/**
 * The journalctl lines `service logs` runs on a machine, and the parser of what they
 * print (`-o json`: one object per entry), as pure functions: tests compare them exactly.
 */

/** What to read of one unit's journal. */
export interface JournalQuery {
  unit: string
  /** journalctl's own --since syntax: `2026-12-01 10:00`, `-1h`, `@1764583200`, `today`. */
  since?: string
  /** The last N entries (with `since`: of those since then). */
  tail?: number
  /** Keep printing new entries, from just after this cursor (or from the start of the selection). */
  follow?: {afterCursor?: string}
}

/** The command line that prints a unit's journal as JSON, one entry per line. */
export function journalCommand(query: JournalQuery): string {
  const args = ['journalctl', '--no-pager', '--quiet', '-o', 'json', '-u', shellQuote(query.unit)]
  if (query.follow?.afterCursor) args.push('--follow', `--after-cursor=${shellQuote(query.follow.afterCursor)}`)
  else {
    if (query.since !== undefined) args.push(`--since=${shellQuote(query.since)}`)
    if (query.follow) args.push('--follow', '--lines=all')
    else args.push(`--lines=${query.tail ?? 'all'}`)
  }
  return args.join(' ')
}

/** One journal entry: when (µs since the epoch), what, and where to go on from. */
export interface JournalEntry {
  atUs: number
  message: string
  cursor: string
}

/**
 * One line of `journalctl -o json`, or undefined for a line that is not an entry. journald
 * sends a message that is not valid UTF-8 as an array of bytes, and a field repeated in one
 * entry as an array of values.
 */
export function parseJournalLine(line: string): JournalEntry | undefined {
  let entry: {__REALTIME_TIMESTAMP?: unknown; __CURSOR?: unknown; MESSAGE?: unknown}
  try {
    entry = JSON.parse(line) as typeof entry
  } catch {
    return undefined
  }
  if (typeof entry !== 'object' || entry === null) return undefined
  const atUs = Number(entry.__REALTIME_TIMESTAMP)
  if (!Number.isFinite(atUs) || typeof entry.__CURSOR !== 'string') return undefined
  return {atUs, message: messageText(entry.MESSAGE), cursor: entry.__CURSOR}
}

function messageText(value: unknown): string {
  if (typeof value === 'string') return value
  if (Array.isArray(value) && value.every((b) => typeof b === 'number')) return Buffer.from(value as number[]).toString('utf8')
  if (Array.isArray(value)) return value.map(messageText).join('\n')
  return value === null || value === undefined ? '' : String(value)
}

/** Splits a stream's chunks into whole lines, keeping a partial last line for the next chunk. */
export function lineSplitter(onLine: (line: string) => void): {push: (chunk: Buffer | string) => void; end: () => void} {
  const decoder = new StringDecoder('utf8')
  let rest = ''
  return {
    push(chunk) {
      const lines = (rest + (typeof chunk === 'string' ? chunk : decoder.write(chunk))).split('\n')
      rest = lines.pop() ?? ''
      for (const line of lines) if (line !== '') onLine(line)
    },
    end() {
      rest += decoder.end()
      if (rest !== '') onLine(rest)
      rest = ''
    },
  }
}
