import {createHash} from 'node:crypto'

/** The hex SHA-256 of a string, as unit and spec hashes are written. */
export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/**
 * JSON with object keys sorted at every depth, so equal values always hash the same.
 * Hand-rolled rather than a JSON.stringify replacer, and with plain loops: it runs for every
 * service on every pass that renders, and was most of a 1,000-service plan's time.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  let out: string
  if (Array.isArray(value)) {
    out = '['
    for (let i = 0; i < value.length; i++) out += (i > 0 ? ',' : '') + canonicalJson(value[i])
    return `${out}]`
  }
  const record = value as Record<string, unknown>
  out = '{'
  for (const key of Object.keys(record).sort()) {
    const item = record[key]
    if (item !== undefined) out += (out.length > 1 ? ',' : '') + JSON.stringify(key) + ':' + canonicalJson(item)
  }
  return `${out}}`
}

/** The hash of a stored service spec, as the audit trail records it before and after a change. */
export function specHash(spec: unknown): string {
  return sha256Hex(canonicalJson(spec))
}

/** The short hash (16 hex) of a validated spec, as assignments, revisions and rollouts name it. */
export function shortSpecHash(spec: unknown): string {
  return specHash(spec).slice(0, 16)
}
