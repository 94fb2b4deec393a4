import type {Constraint} from '../spec/constraint.js'
import type {MachineView} from './types.js'

/** Placement constraints (parsed by src/spec/constraint.ts) checked against a machine, and written back for messages. */

/**
 * Whether the machine meets the constraint. A machine without the label has no value:
 * `==` and `in` do not hold on it, `!=` does (as Swarm's constraints read).
 */
export function constraintHolds(constraint: Constraint, machine: Pick<MachineView, 'name' | 'labels'>): boolean {
  const value = constraint.attribute === 'name' ? machine.name : machine.labels[constraint.attribute.slice('labels.'.length)]
  const listed = value !== undefined && constraint.values.includes(value)
  return constraint.operator === '!=' ? !listed : listed
}

/** The constraint written back as a spec writes it, for messages. */
export function formatConstraint(constraint: Constraint): string {
  const value = constraint.operator === 'in' ? `(${constraint.values.join(', ')})` : constraint.values[0]
  return `${constraint.attribute} ${constraint.operator} ${value}`
}
