import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {EnvFileError, renderEnvFile} from '../../src/spec/env-file.js'

describe('renderEnvFile', () => {
  it('writes env sorted by name, then secrets, objects and arrays as JSON', () => {
    const env = {ZED: 'last', APP_CONFIG: {db: {host: 'db', port: 5432}, tags: ['a', 'b']}, COUNT: 3, DEBUG: false, EMPTY: null, RAW: ' spaces kept, #not a comment, "quotes" $HOME %h'}
    assert.equal(renderEnvFile(env, new Map([['TOKEN', 's3cret=='], ['API_KEY', 'k']])), [
      'APP_CONFIG={"db":{"host":"db","port":5432},"tags":["a","b"]}',
      'COUNT=3',
      'DEBUG=false',
      'EMPTY=',
      'RAW= spaces kept, #not a comment, "quotes" $HOME %h',
      'ZED=last',
      'API_KEY=k',
      'TOKEN=s3cret==',
      '',
    ].join('\n'))
  })

  it('is empty when there is nothing to pass', () => assert.equal(renderEnvFile(), ''))

  it('JSON-escapes line breaks inside object values, which then fit on one line', () => {
    assert.equal(renderEnvFile({CFG: {motd: 'a\nb'}}), 'CFG={"motd":"a\\nb"}\n')
  })

  it('refuses a plain value with a line break, naming the variable', () => {
    assert.throws(() => renderEnvFile({GREETING: 'hello\nINJECTED=1'}), {
      name: 'EnvFileError',
      message: 'env GREETING contains a line break, which docker env files cannot carry; put it in a mounted file instead',
    })
  })

  it('refuses a secret with a line break or NUL without showing its value', () => {
    for (const value of ['-----BEGIN KEY-----\nMIIE', 'a\rb', 'nul\0']) {
      assert.throws(() => renderEnvFile({}, new Map([['TLS_KEY', value]])), (error: Error) => {
        assert.ok(error instanceof EnvFileError)
        assert.match(error.message, /^secret TLS_KEY contains (a line break|a NUL byte), which docker env files cannot carry; store it base64-encoded and decode it in the container$/)
        assert.ok(!error.message.includes(value.slice(0, 4)))
        return true
      })
    }
  })

  it('refuses a line longer than docker reads', () => {
    assert.equal(renderEnvFile({A: 'x'.repeat(65533)}).length, 65536)
    assert.throws(() => renderEnvFile({A: 'x'.repeat(65534)}), {message: 'env A is 65536 bytes long; docker env-file lines stop at 65535; put it in a mounted file instead'})
  })

  it('refuses a variable that is both env and secret', () => {
    assert.throws(() => renderEnvFile({TOKEN: 'plain'}, new Map([['TOKEN', 'secret']])), {message: 'env TOKEN is also a secret; a variable may come from only one of them'})
  })
})
