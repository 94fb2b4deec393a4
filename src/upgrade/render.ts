import {planTable} from './plan.js'
import type {RollingResult} from './rolling.js'

/** The lines a rolling upgrade prints once done, or as its plan with `--dry-run`. */
export function renderRolling(result: RollingResult, dryRun: boolean): string {
  if (dryRun) return [`rolling upgrade to ${result.image}${result.done.length > 0 ? ` (resuming ${result.id})` : ''}:`, planTable(result.waves, result.done)].join('\n')
  if (result.waves.length === 0 && !result.finished) return `rolling upgrade ${result.id} abandoned after ${result.done.length} machines`
  return `rolling upgrade ${result.id} to ${result.image}: ${result.done.length} machines upgraded (${result.done.join(', ')})`
}
