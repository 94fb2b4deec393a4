import {UsageError, type Problem} from '../../errors.js'

/**
 * Secret names, checked wherever a secret is named (stores, CLI, API): a secret reaches its
 * container as an environment variable of the same name, and becomes part of a store key.
 */

const secretName = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/

/** Returns the problem with a secret name, or undefined. */
export function secretNameProblem(name: string, where: Omit<Problem, 'message'> = {}): Problem | undefined {
  if (secretName.test(name)) return undefined
  return {...where, message: `${JSON.stringify(name)} is not a valid secret name`, fix: 'a secret is an environment variable: letters, digits and _, not starting with a digit, like DB_PASSWORD'}
}

/** Throws a UsageError unless `name` is a valid secret name. */
export function validateSecretName(name: string): string {
  const problem = secretNameProblem(name)
  if (problem) throw new UsageError([problem])
  return name
}

