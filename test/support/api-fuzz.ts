import {Agent, request} from 'node:https'
import {connect} from 'node:tls'

import {isQuartermasterPath} from '../../src/agent/api/quartermaster.js'

/**
 * The admin API's fuzzer, shared by test/agent/api-fuzz.test.ts and bench/api-fuzz.ts: a
 * seeded generator of hostile requests (mutated service specs, broken JSON, odd methods,
 * paths, headers and tokens) and a sender that delivers each one byte for byte, through
 * node:https where it accepts the request and over a raw TLS socket where it does not.
 */

/** A small, fast PRNG (mulberry32): the same seed gives the same requests on every machine. */
export class Random {
  #state: number

  constructor(seed: number) {
    this.#state = seed >>> 0
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0
    let t = this.#state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p
  }

  /** One element of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T
  }
}

/** The seed of this run: `BERTH_FUZZ_SEED` when set (to replay a failure), else a fresh one. */
export function fuzzSeed(): number {
  const given = process.env.BERTH_FUZZ_SEED
  if (given !== undefined && given !== '') return Number(given) >>> 0
  return Math.floor(Math.random() * 4_294_967_296)
}

/** One request as the fuzzer means it, before it is put on the wire. */
export interface FuzzRequest {
  /** What kind of input it is, for the failure message. */
  kind: string
  method: string
  path: string
  headers: Array<[string, string]>
  body?: Buffer
  /** Bytes sent as they are instead of an HTTP request built from the fields above. */
  raw?: Buffer
  /** The client hangs up before the request is complete: the server may not answer. */
  hangsUp?: boolean
}

/** What came back: the status (0 when there was no answer), headers and body text. */
export interface FuzzAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
  /** Why there was no answer (0 status). */
  failure?: string
}

/** Service names the fuzzer puts, gets and deletes, so requests meet stored state. */
export const fuzzNames = ['web', 'api', 'db', 'billing-api', 'w0rker', 'a']

/** Valid specs the mutations start from. */
export const validSpecs: ReadonlyArray<Record<string, unknown>> = [
  {image: 'web:1'},
  {image: 'web:1', ports: ['8080:80']},
  {image: 'registry.local:5000/team/api@sha256:0123', command: ['api', '--port', '8080'], env: {MODE: 'prod', RETRIES: 3, DEBUG: false, CONFIG: {a: [1, 2, {b: null}]}}},
  {image: 'db:15', volumes: ['data:/var/lib/db:rw'], mounts: [{source: '/srv/db', target: '/db', readOnly: true}], user: '999:999', memory: '512m', readOnly: true},
  {image: 'web:2', capabilities: {add: ['NET_ADMIN'], drop: ['NET_RAW']}, labels: {'team.owner': 'ops', 'a/b': 'c'}, stopTimeout: 30, restart: 'on-failure', roles: ['data']},
  {image: 'web:1', secrets: ['DB_PASSWORD', 'API_KEY'], env: {DB_HOST: 'db', 'Ünï': 'x'}},
  {image: 'web:1', env: {UNICODE: 'héllo ☃ 𝄞 \u202e', EMPTY: '', NUM: 1.5e10}, ports: ['127.0.0.1:5432:5432/tcp']},
]

// Values that try every type, edge of range and character class the spec fields meet.
const oddStrings = ['', ' ', 'web:1\nExecStart=/bin/sh', 'a\u0000b', '\u0007', '\u0085', '\u2028', '\ud800', '\udfff\ud800', '%h$HOME', '"quoted"', '\\', '../../etc/passwd', '/a/../b', 'ǅ', '𝔘𝔫𝔦', '\u202e', '\ufeff', 'x'.repeat(70_000), 'web:1'.repeat(60), '1e309', 'NaN', 'null', 'true', '0x10', '-1']
const oddNumbers = [0, -0, -1, 1, 1.5, 3600, 3601, 65535, 65536, 2 ** 31, 2 ** 53, -(2 ** 53), Number.MAX_VALUE, Number.MIN_VALUE, 1e-320]
const oddNumberText = ['1e400', '-1e400', '123456789012345678901234567890', '1' + '0'.repeat(5000), '0.' + '0'.repeat(400) + '1', '-0', '1E+2', '1e-400']
const pollution = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '__defineGetter__', 'valueOf']
const specKeys = ['image', 'command', 'env', 'secrets', 'ports', 'volumes', 'mounts', 'user', 'capabilities', 'memory', 'readOnly', 'labels', 'stopTimeout', 'restart', 'roles']

/** A random JSON value of any type, nesting at most `depth` more levels. */
function randomValue(rnd: Random, depth: number): unknown {
  const roll = rnd.int(0, depth > 0 ? 9 : 6)
  switch (roll) {
    case 0: return null
    case 1: return rnd.chance(0.5)
    case 2: return rnd.pick(oddNumbers)
    case 3: return rnd.pick(oddStrings)
    case 4: return rnd.pick(pollution)
    case 5: return rnd.pick(['web:1', 'main', 'worker', 'data', 'always', '8080:80', 'NET_ADMIN', '512m', '1000:1000'])
    case 6: return rnd.int(-5, 70_000)
    case 7: return Array.from({length: rnd.int(0, 4)}, () => randomValue(rnd, depth - 1))
    default: {
      const object: Record<string, unknown> = {}
      for (let i = rnd.int(0, 4); i > 0; i--) defineKey(object, rnd.pick([...pollution, ...specKeys, 'source', 'target', 'add', 'drop', 'X', '']), randomValue(rnd, depth - 1))
      return object
    }
  }
}

// Plain assignment of `__proto__` would set the prototype instead of making a key, which
// JSON.stringify would then leave out; a key of that name is what an attacker sends.
function defineKey(object: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(object, key, {value, enumerable: true, writable: true, configurable: true})
}

/** A copy of a valid spec with one to three fields replaced, added or removed. */
function mutatedSpec(rnd: Random): unknown {
  const spec = structuredClone(rnd.pick(validSpecs)) as Record<string, unknown>
  for (let i = rnd.int(1, 3); i > 0; i--) {
    const roll = rnd.int(0, 5)
    if (roll === 0) delete spec[rnd.pick(specKeys)]
    else if (roll === 1) defineKey(spec, rnd.pick(pollution), randomValue(rnd, 3))
    else if (roll === 2) {
      // Deep inside a field the schema leaves open (env values) or closes (everything else).
      const target = rnd.pick(['env', 'labels', 'command', 'mounts', 'capabilities'])
      const inner = rnd.pick(['X', '__proto__', 'constructor', 'a'])
      defineKey(spec, target, target === 'command' ? [nested(rnd, rnd.int(1, 120))] : {[inner]: nested(rnd, rnd.int(1, 120))})
      if (inner === '__proto__') defineKey(spec[target] as Record<string, unknown>, inner, nested(rnd, rnd.int(1, 40)))
    } else if (roll === 3) {
      const env = (typeof spec.env === 'object' && spec.env !== null ? spec.env : {}) as Record<string, unknown>
      defineKey(env, rnd.pick(['X', 'Y', '__proto__', 'constructor', 'PATH', '1BAD', 'bad-name', '']), randomValue(rnd, 3))
      spec.env = env
    } else defineKey(spec, rnd.pick(specKeys), randomValue(rnd, 3))
  }
  return spec
}

/** A value `depth` levels deep, arrays and objects mixed. */
function nested(rnd: Random, depth: number): unknown {
  let value: unknown = rnd.pick([1, 'x', null, [], {}])
  for (let i = 1; i < depth; i++) value = rnd.chance(0.5) ? [value] : {a: value}
  return value
}

/** JSON text of a spec nested `levels` deep inside env, written directly so any depth fits. */
function deepText(rnd: Random, levels: number): string {
  const [open, close] = rnd.chance(0.5) ? ['[', ']'] : ['{"a":', '}']
  const inner = `${open.repeat(levels)}1${close.repeat(levels)}`
  // Mostly inside env, the one field whose values the schema leaves open to any depth.
  const env = `{"image":"web:1","env":{"X":${inner}}}`
  return rnd.pick([inner, env, env, env, `{"image":"web:1","roles":[${inner},${inner}]}`, `{"image":"web:1","command":${inner}}`])
}

/** JSON text that breaks the grammar, or stretches the number syntax, in one of many ways. */
function brokenText(rnd: Random): string {
  const valid = JSON.stringify(rnd.pick(validSpecs))
  switch (rnd.int(0, 9)) {
    case 0: return valid.slice(0, rnd.int(0, valid.length - 1))
    case 1: {
      const at = rnd.int(0, valid.length - 1)
      return valid.slice(0, at) + rnd.pick(['\u0000', '\u0001', '"', '{', ']', ',', '\\', '\ud800', '\n', 'ÿ']) + valid.slice(at + 1)
    }
    case 2: return `{"image":"web:1","stopTimeout":${rnd.pick(oddNumberText)}}`
    case 3: return `{"image":"web:1","env":{"X":${rnd.pick(oddNumberText)}}}`
    case 4: return `{"image":"web:1","env":{"X":"${rnd.pick(['\\u0000', '\\ud800', '\\uDFFF', '\\u0085', '\\x41', '\\', '\u0000', '\t'])}"}}`
    case 5: return `{"image":"web:1","image":"web:2","__proto__":{"image":"x"}}`
    case 6: return rnd.pick(['', ' ', 'null', 'true', '0', '"web:1"', '[]', '[{"image":"web:1"}]', '{}', '\ufeff{"image":"web:1"}', 'NaN', '{"image":"web:1"} {}', '{"image":"web:1"}\u0000'])
    case 7: return `{"image":"web:1","env":{${Array.from({length: rnd.int(1, 500)}, (_, i) => `"K${i}":${i}`).join(',')}}}`
    case 8: return `{"image":"web:1","command":[${Array.from({length: rnd.int(1, 2000)}, () => '"x"').join(',')}]}`
    default: return valid.replace(/"/g, rnd.pick(["'", '', '""']))
  }
}

function bodyText(rnd: Random): {kind: string; text: string} {
  const roll = rnd.next()
  if (roll < 0.3) return {kind: 'valid spec', text: JSON.stringify(rnd.pick(validSpecs))}
  if (roll < 0.55) return {kind: 'mutated spec', text: JSON.stringify(mutatedSpec(rnd))}
  if (roll < 0.7) return {kind: 'deep nesting', text: deepText(rnd, rnd.pick([10, 63, 64, 65, 100, 5000, 20_000, 100_000, 100_000, 250_000]))}
  if (roll < 0.9) return {kind: 'broken JSON', text: brokenText(rnd)}
  return {kind: 'random value', text: JSON.stringify(randomValue(rnd, 5)) ?? 'null'}
}

function serviceSegment(rnd: Random): string {
  const roll = rnd.next()
  if (roll < 0.6) return rnd.pick(fuzzNames)
  return rnd.pick(['Web', 'web%2Fapi', 'web%2fapi', '%2e%2e', '..', '.', '%2e', 'web%00', '%00', '%', '%ZZ', '%C0%AE', '%E2%80%AE', 'web%0aExecStart=x', 'agent', 'installer',
    'a'.repeat(63), 'a'.repeat(64), 'x'.repeat(rnd.int(100, 20_000)), '', 'web;rm', 'web%20', 'wéb', '__proto__', 'constructor', 'web/..', 'web%2F..%2F..', '-web', 'web-'])
}

function path(rnd: Random): string {
  const roll = rnd.next()
  if (roll < 0.7) return `/v1/services/${serviceSegment(rnd)}${rnd.chance(0.05) ? rnd.pick(['?x=1', '?', '#frag', '/', '/extra']) : ''}`
  // quartermaster's routes (src/agent/api/quartermaster.ts): their own token rules and answers.
  if (roll < 0.8) return rnd.pick(['/run', '/stop', '/run', '/stop', `/status/${serviceSegment(rnd)}`, '/status/run-0123456789abcdef', '/status/', '/status/a/b', '/run?token=x', '/stop/'])
  return rnd.pick(['/v1/services', '/v1/status', '/v1/sync', '/v1/health', '/v1/health?x', '/v1/', '/', '', '*', '//v1/services', '/v1//services', '/V1/services', '/v1/services/', '/v1/%2e%2e/services',
    '/v1/services%2Fweb', '/v1/./services', 'http://127.0.0.1/v1/services', '/v1/services/web/../../status', `/${'a/'.repeat(rnd.int(10, 9000))}`, '/v1/services?token=x', '/\u0000', '/v1/services/\u00e9', '/v1/services/ web'])
}

const methods = ['GET', 'PUT', 'DELETE', 'POST', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND', 'PURGE', 'M-SEARCH', 'QUERY', 'FOO', 'get', 'CONNECT', 'PUT ', '']

function authorization(rnd: Random, token: string): Array<[string, string]> {
  const roll = rnd.next()
  if (roll < 0.75) return [['authorization', `Bearer ${token}`]]
  const near = rnd.pick([
    '', 'Bearer', 'Bearer ', `Bearer ${token.slice(0, -1)}`, `Bearer ${token}x`, `Bearer ${token.slice(0, -1)}${token.at(-1) === 'a' ? 'b' : 'a'}`, `bearer ${token}`, `BEARER ${token}`,
    `Bearer  ${token}`, `Bearer ${token} `, `Bearer\t${token}`, `Basic ${Buffer.from(`x:${token}`).toString('base64')}`, `Bearer ${token.toUpperCase()}`, `Bearer ${token}\u0000`,
    `Bearer ${'x'.repeat(rnd.int(1, 20_000))}`, `Bearer ${token},Bearer ${token}`, `Token ${token}`,
  ])
  return rnd.chance(0.1) ? [['authorization', `Bearer ${token}`], ['authorization', near]] : near === '' ? [] : [['authorization', near]]
}

function contentType(rnd: Random): Array<[string, string]> {
  const roll = rnd.next()
  if (roll < 0.8) return [['content-type', 'application/json']]
  const type = rnd.pick(['', 'text/plain', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/json;charset=latin1', 'application/jsonx', 'application/json-patch+json',
    'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'application/json\u0000', ';', 'application/json, text/plain', '*/*'])
  return type === '' ? [] : [['content-type', type]]
}

function extraHeaders(rnd: Random): Array<[string, string]> {
  if (rnd.chance(0.8)) return []
  return [rnd.pick<[string, string]>([
    ['x-filler', 'y'.repeat(rnd.int(1000, 70_000))],
    ['origin', rnd.pick(['https://admin.example.com', 'https://evil.example.com', 'null', ''])],
    ['transfer-encoding', 'chunked'],
    ['expect', '100-continue'],
    ['connection', 'upgrade'],
    ['upgrade', 'websocket'],
    ['x-nul', 'a\u0000b'],
    ['x-ctl', 'a\rb'],
    ['content-length', rnd.pick(['abc', '-1', '99999999999999999999', '1, 2'])],
    ['accept', 'text/html'],
    ['x-unicode', '☃'],
  ])]
}

/** Bytes no HTTP parser should accept, or requests whose client gives up half-way. */
function rawRequest(rnd: Random, token: string): FuzzRequest {
  const spec = JSON.stringify(rnd.pick(validSpecs))
  const head = (line: string, extra = ''): string => `${line}\r\nhost: 127.0.0.1\r\nauthorization: Bearer ${token}\r\ncontent-type: application/json\r\n${extra}`
  const variants: Array<[string, string, boolean?]> = [
    ['random bytes', Buffer.from(Array.from({length: rnd.int(1, 400)}, () => rnd.int(0, 255))).toString('latin1')],
    ['LF line ends', `PUT /v1/services/web HTTP/1.1\nhost: x\nauthorization: Bearer ${token}\ncontent-type: application/json\ncontent-length: ${spec.length}\n\n${spec}`],
    ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
    ['HTTP/1.0', `${head('GET /v1/services HTTP/1.0')}\r\n`],
    ['HTTP/9.9', `${head('GET /v1/services HTTP/9.9')}\r\n`],
    ['no version', 'GET /v1/services\r\n\r\n'],
    ['two content-lengths', `${head('PUT /v1/services/web HTTP/1.1', `content-length: ${spec.length}\r\ncontent-length: 1\r\n`)}\r\n${spec}`],
    ['length and chunked', `${head('PUT /v1/services/web HTTP/1.1', `content-length: ${spec.length}\r\ntransfer-encoding: chunked\r\n`)}\r\n${spec}`],
    ['bad chunk', `${head('PUT /v1/services/web HTTP/1.1', 'transfer-encoding: chunked\r\n')}\r\nzz\r\n${spec}\r\n0\r\n\r\n`],
    ['header without colon', `${head('GET /v1/services HTTP/1.1', 'no-colon-here\r\n')}\r\n`],
    ['space before colon', `${head('GET /v1/services HTTP/1.1', 'x-a : b\r\n')}\r\n`],
    ['obsolete line folding', `${head('GET /v1/services HTTP/1.1', 'x-a: b\r\n  c\r\n')}\r\n`],
    ['NUL in path', `${head('GET /v1/services/\u0000web HTTP/1.1')}\r\n`],
    ['CONNECT', `${head('CONNECT 127.0.0.1:22 HTTP/1.1')}\r\n`],
    ['short body, client hangs up', `${head('PUT /v1/services/web HTTP/1.1', `content-length: ${spec.length + 10}\r\n`)}\r\n${spec}`, true],
    ['half a head, client hangs up', `PUT /v1/services/web HTTP/1.1\r\nhost: x\r\nauthoriz`, true],
  ]
  const [kind, text, hangsUp] = rnd.pick(variants)
  return {kind: `raw: ${kind}`, method: '', path: '', headers: [], raw: Buffer.from(text, 'latin1'), hangsUp}
}

/** The `i`-th request of a run: mostly well-formed HTTP around bad bodies, some of it bad HTTP. */
export function fuzzRequest(rnd: Random, token: string): FuzzRequest {
  if (rnd.chance(0.06)) return rawRequest(rnd, token)
  const target = path(rnd)
  const quartermaster = isQuartermasterPath(target.split('?')[0] ?? '')
  const method = quartermaster && rnd.chance(0.7) ? rnd.pick(['POST', 'POST', 'GET']) : rnd.chance(0.7) ? rnd.pick(['PUT', 'PUT', 'GET', 'DELETE']) : rnd.pick(methods)
  const headers = [...authorization(rnd, token), ...extraHeaders(rnd)]
  let kind = 'no body'
  let body: Buffer | undefined
  if (method === 'PUT' || (quartermaster && method === 'POST') || rnd.chance(0.15)) {
    const made = quartermaster && rnd.chance(0.5) ? withToken(bodyText(rnd), token) : bodyText(rnd)
    kind = made.kind
    body = Buffer.from(made.text, rnd.chance(0.03) ? 'latin1' : 'utf8')
    if (rnd.chance(0.01)) body = Buffer.concat([body, Buffer.alloc(Math.max(0, 1024 * 1024 + 1 - body.length), 0x20)])
    headers.push(...contentType(rnd))
  }
  return {kind, method, path: target, headers, body}
}

/** A JSON object body with the right token in it, as quartermaster's clients send it; other bodies as they are. */
function withToken(made: {kind: string; text: string}, token: string): {kind: string; text: string} {
  try {
    const value = JSON.parse(made.text) as unknown
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return {kind: `${made.kind} + token`, text: JSON.stringify({...value, token})}
  } catch {
    // Not JSON: sent as it is.
  }
  return made
}

/** Sends requests one connection pool at a time; the pool keeps TLS sessions alive between them. */
export class FuzzSender {
  readonly #agent: Agent
  readonly #url: URL

  constructor(url: string, readonly ca: Buffer) {
    this.#url = new URL(url)
    this.#agent = new Agent({keepAlive: true, ca})
  }

  /** Delivers one request and waits for its answer (or for the server to close the connection). */
  send(fuzz: FuzzRequest): Promise<FuzzAnswer> {
    if (fuzz.raw) return this.#raw(fuzz.raw, fuzz.hangsUp ?? false)
    try {
      return this.#https(fuzz)
    } catch {
      // node:https refuses to send a bad method, path or header value: the raw socket does.
      return this.#raw(serialize(fuzz), false, fuzz.method === 'HEAD')
    }
  }

  /** Closes the pooled connections. */
  close(): void {
    this.#agent.destroy()
  }

  #https(fuzz: FuzzRequest): Promise<FuzzAnswer> {
    const headers: Record<string, string | string[]> = {}
    for (const [name, value] of fuzz.headers) {
      const had = headers[name]
      headers[name] = had === undefined ? value : [had, value].flat()
    }
    // HEAD goes raw too: a HEAD whose head spans TLS records and overflows gets its 431
    // with a body (the server cannot tell the method then), which node:https rejects.
    if (['CONNECT', 'HEAD', ''].includes(fuzz.method) || fuzz.method !== fuzz.method.toUpperCase() || fuzz.path === '') throw new Error('not for node:https')
    // node:https sends a GET, HEAD or DELETE body with neither length nor chunks, so the
    // server would read it as the next request; a body always goes with its framing.
    if (fuzz.body && headers['content-length'] === undefined && headers['transfer-encoding'] === undefined) headers['content-length'] = String(fuzz.body.length)
    const req = request({hostname: this.#url.hostname, port: this.#url.port, path: fuzz.path, method: fuzz.method, headers, agent: this.#agent})
    return new Promise<FuzzAnswer>((resolve) => {
      // A timer of its own: a request still waiting for a pooled socket has no socket timeout.
      const timer = setTimeout(() => req.destroy(new Error('no answer within 10 s')), 10_000)
      req.on('close', () => clearTimeout(timer))
      req.on('response', (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8')}))
        res.on('error', (error) => resolve({status: 0, headers: {}, text: '', failure: error.message}))
        // After 'end' this changes nothing; before it, the answer was cut off.
        res.on('close', () => resolve({status: 0, headers: {}, text: '', failure: `answer ${res.statusCode} cut off`}))
      })
      req.on('error', (error) => resolve({status: 0, headers: {}, text: '', failure: error.message}))
      req.on('close', () => resolve({status: 0, headers: {}, text: '', failure: 'closed without an answer'}))
      req.end(fuzz.body)
    })
  }

  #raw(bytes: Buffer, hangsUp: boolean, head = false): Promise<FuzzAnswer> {
    return new Promise((resolve) => {
      const socket = connect({host: this.#url.hostname, port: Number(this.#url.port), ca: this.ca, servername: undefined})
      const chunks: Buffer[] = []
      const timer = setTimeout(() => socket.destroy(new Error('no answer within 10 s')), 10_000)
      let failure: string | undefined
      socket.on('secureConnect', () => {
        socket.write(bytes)
        if (hangsUp) socket.end()
      })
      socket.on('data', (c: Buffer) => chunks.push(c))
      socket.on('error', (error) => (failure = error.message))
      socket.on('close', () => {
        clearTimeout(timer)
        resolve(parseRaw(Buffer.concat(chunks), failure))
      })
      // A malformed request makes the server answer and close; a good one is closed by us
      // as soon as its answer is complete.
      socket.on('data', () => {
        const answer = parseRaw(Buffer.concat(chunks))
        if (answer.status !== 0 && (head || Buffer.byteLength(answer.text) >= Number(answer.headers['content-length'] ?? 0))) socket.destroy()
      })
    })
  }
}

/** One request as HTTP/1.1 bytes, with Content-Length, for what node:https will not send. */
function serialize(fuzz: FuzzRequest): Buffer {
  const lines = [`${fuzz.method} ${fuzz.path} HTTP/1.1`, 'host: 127.0.0.1', ...fuzz.headers.map(([n, v]) => `${n}: ${v}`)]
  if (fuzz.body) lines.push(`content-length: ${fuzz.body.length}`)
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8'), fuzz.body ?? Buffer.alloc(0)])
}

function parseRaw(bytes: Buffer, failure?: string): FuzzAnswer {
  // Interim answers (100 Continue) come before the real one.
  const text = bytes.toString('utf8').replace(/^(HTTP\/1\.[01] 1\d\d [^\r]*\r\n(?:[^\r]+\r\n)*\r\n)+/, '')
  const end = text.indexOf('\r\n\r\n')
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)
  if (end < 0 || !status) return {status: 0, headers: {}, text: '', failure: failure ?? (bytes.length === 0 ? 'closed without an answer' : `not an HTTP answer: ${JSON.stringify(text.slice(0, 80))}`)}
  const headers: Record<string, string> = {}
  for (const line of text.slice(0, end).split('\r\n').slice(1)) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  return {status: Number(status[1]), headers, text: text.slice(end + 4)}
}

/** What is wrong with an answer, or undefined: every answer 2xx or 4xx, every 4xx a JSON error. */
export function answerProblem(fuzz: FuzzRequest, answer: FuzzAnswer): string | undefined {
  if (answer.status === 0) return fuzz.hangsUp ? undefined : `no answer (${answer.failure ?? 'unknown'})`
  if (answer.status >= 500) return `status ${answer.status}: ${answer.text.slice(0, 200)}`
  if (answer.status < 200 || (answer.status >= 300 && answer.status < 400)) return `status ${answer.status}`
  if (answer.status < 400) return undefined
  if (!/^application\/json/.test(String(answer.headers['content-type']))) return `status ${answer.status} without a JSON content type`
  // A HEAD answer carries no body by definition; its headers were checked above.
  if (fuzz.method === 'HEAD') return undefined
  try {
    // Requests the HTTP parser refuses (CONNECT, a bad method) never reach a route: they get the raw answer, and a closed connection.
    // A CORS preflight (OPTIONS) is answered before any route, in the API's own shape, on every path.
    if (isQuartermasterPath(fuzz.path.split('?')[0] ?? '') && fuzz.method !== 'OPTIONS' && answer.headers.connection !== 'close') {
      const refusal = JSON.parse(answer.text) as {success?: unknown; error?: unknown}
      return refusal.success === false && typeof refusal.error === 'string' && refusal.error !== '' ? undefined : `status ${answer.status} without {success: false, error}: ${answer.text.slice(0, 200)}`
    }
    const error = (JSON.parse(answer.text) as {error?: {code?: unknown; message?: unknown}}).error
    if (typeof error?.code !== 'string' || typeof error.message !== 'string' || error.message === '') return `status ${answer.status} without {error: {code, message}}: ${answer.text.slice(0, 200)}`
  } catch {
    return `status ${answer.status} whose body is not JSON: ${answer.text.slice(0, 200)}`
  }
  return undefined
}

/** How a request looks in a failure message: short enough to read, enough to recognise. */
export function describeRequest(fuzz: FuzzRequest): string {
  const show = (s: string): string => JSON.stringify(s.length > 120 ? `${s.slice(0, 120)}... (${s.length} chars)` : s)
  if (fuzz.raw) return `${fuzz.kind} ${show(fuzz.raw.toString('latin1'))}`
  return `${fuzz.kind}: ${show(fuzz.method)} ${show(fuzz.path)} headers ${fuzz.headers.map(([n, v]) => `${n}=${show(v)}`).join(' ')} body ${fuzz.body ? show(fuzz.body.toString('utf8')) : 'none'}`
}
