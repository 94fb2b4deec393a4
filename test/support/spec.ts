import assert from 'node:assert/strict'

import {validateServiceSpec} from '../../src/spec/service.js'
import {UsageError} from '../../src/errors.js'

/** The lines a UsageError shows its user for a spec at `services/web` of cluster.yaml, or a failure when validation passed. */
export async function problemLines(value: unknown): Promise<string[]> {
  try {
    await validateServiceSpec(value, {file: 'cluster.yaml', path: 'services/web'})
  } catch (error) {
    assert.ok(error instanceof UsageError, String(error))
    return error.message.split('\n')
  }
  assert.fail('the spec was accepted')
}
