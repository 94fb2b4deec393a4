import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {journalCommand, lineSplitter, parseJournalLine} from '../../src/ops/journal.js'
import {mergeByTime, type LogLine} from '../../src/ops/logs.js'

describe('journal commands and parsing', () => {
  it('builds the journalctl line for a backlog, a tail, a since and a follow', () => {
    assert.equal(journalCommand({unit: 'berth-web.service'}), "journalctl --no-pager --quiet -o json -u 'berth-web.service' --lines=all")
    assert.equal(journalCommand({unit: 'berth-web.service', tail: 20, since: '-1h'}), "journalctl --no-pager --quiet -o json -u 'berth-web.service' --since='-1h' --lines=20")
    assert.equal(journalCommand({unit: 'u', follow: {afterCursor: "s=1;i=2'x"}}), "journalctl --no-pager --quiet -o json -u 'u' --follow --after-cursor='s=1;i=2'\\''x'")
    assert.equal(journalCommand({unit: 'u', since: 'today', follow: {}}), "journalctl --no-pager --quiet -o json -u 'u' --since='today' --follow --lines=all")
  })

  it('parses entries: text, byte arrays, repeated fields; skips what is not an entry', () => {
    assert.deepEqual(parseJournalLine('{"__REALTIME_TIMESTAMP":"1764630000123456","__CURSOR":"c1","MESSAGE":"hello"}'), {atUs: 1764630000123456, message: 'hello', cursor: 'c1'})
    assert.equal(parseJournalLine(JSON.stringify({__REALTIME_TIMESTAMP: '1', __CURSOR: 'c', MESSAGE: [...Buffer.from('bytes é')]}))?.message, 'bytes é')
    assert.equal(parseJournalLine(JSON.stringify({__REALTIME_TIMESTAMP: '1', __CURSOR: 'c', MESSAGE: ['a', 'b']}))?.message, 'a\nb')
    assert.equal(parseJournalLine(JSON.stringify({__REALTIME_TIMESTAMP: '1', __CURSOR: 'c'}))?.message, '')
    assert.equal(parseJournalLine('-- No entries --'), undefined)
    assert.equal(parseJournalLine('{"MESSAGE":"no time"}'), undefined)
    assert.equal(parseJournalLine('null'), undefined)
  })

  it('splits chunks into lines, across chunk and UTF-8 boundaries', () => {
    const lines: string[] = []
    const split = lineSplitter((l) => lines.push(l))
    const bytes = Buffer.from('one\ntwo é\nthr')
    split.push(bytes.subarray(0, 8)) // cuts é in half
    split.push(bytes.subarray(8))
    split.push('ee\n\nfour')
    split.end()
    assert.deepEqual(lines, ['one', 'two é', 'three', 'four'])
  })

  it('merges replicas by time, stable for equal times, keeping the last N', () => {
    const line = (replica: string, atUs: number): LogLine => ({atUs, machine: replica, replica, service: 'web', message: `${replica}@${atUs}`})
    const a = [line('a', 1), line('a', 5), line('a', 9)]
    const b = [line('b', 2), line('b', 5), line('b', 7)]
    assert.deepEqual(mergeByTime([a, b]).map((l) => l.message), ['a@1', 'b@2', 'a@5', 'b@5', 'b@7', 'a@9'])
    assert.deepEqual(mergeByTime([a, b], 2).map((l) => l.message), ['b@7', 'a@9'])
    assert.deepEqual(mergeByTime([a, b], 0), [])
  })
})
