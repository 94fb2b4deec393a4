/**
 * Placement constraints as service specs write them (`labels.zone == eu-1`, `name != main-1`,
 * `labels.disk in (ssd, nvme)`), parsed into {@link Constraint}. The spec checks and the
 * scheduler (src/scheduler/constraint.ts, which checks them against machines) both use it.
 */

/** One placement constraint on a machine's name or a label: `labels.zone == eu-1`, `name != main-1`, `labels.disk in (ssd, nvme)`. */
export interface Constraint {
  attribute: 'name' | `labels.${string}`
  operator: '==' | '!=' | 'in'
  values: string[]
}

/** The grammar, as a fix for a constraint that does not parse. */
export const CONSTRAINT_GRAMMAR = 'write name|labels.KEY == VALUE, name|labels.KEY != VALUE or name|labels.KEY in (V1, V2), like labels.zone == eu-1'

/** A label key, as cluster.yaml's machine labels allow it. */
const labelKey = /^[a-zA-Z0-9._/-]+$/

const shape = /^\s*(\S+?)\s*(==|!=|\s+in\b)\s*(.*?)\s*$/

/** Parses one constraint; returns it, or what is wrong with it (a message for the spec's problem list). */
export function parseConstraint(text: string): Constraint | {problem: string} {
  const match = shape.exec(text)
  if (!match) return {problem: `${JSON.stringify(text)} has no operator: ==, != or in`}
  const [, attribute = '', rawOperator = '', rest = ''] = match
  if (attribute !== 'name' && !(attribute.startsWith('labels.') && labelKey.test(attribute.slice('labels.'.length)))) {
    return {problem: `${JSON.stringify(text)}: ${JSON.stringify(attribute)} is neither name nor labels.KEY`}
  }
  const operator = rawOperator.trim() as Constraint['operator']
  const values = operator === 'in' ? listValues(rest) : [rest]
  if (values === undefined) return {problem: `${JSON.stringify(text)}: in takes a list in parentheses, like (ssd, nvme)`}
  if (values.some((v) => v === '')) return {problem: `${JSON.stringify(text)} has an empty value`}
  if (operator !== 'in' && /[(),]/.test(rest)) return {problem: `${JSON.stringify(text)}: ${operator} takes one value; a list is written with in (V1, V2)`}
  return {attribute: attribute as Constraint['attribute'], operator, values}
}

/** The values of `(a, b, c)`, trimmed; undefined when the parentheses are missing. */
function listValues(rest: string): string[] | undefined {
  if (!rest.startsWith('(') || !rest.endsWith(')')) return undefined
  return rest.slice(1, -1).split(',').map((v) => v.trim())
}
