import type {ServiceSpec} from './types.js'

/** What a spec asks for, read the one way every part reads it: how many replicas, how much memory. */

/** Bytes per unit of a memory size as docker's --memory reads it (no suffix: bytes). */
const MEMORY_UNITS: Record<string, number> = {b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3}

/** MB (MiB) of a memory size written as `memory` and `resources.memory` are: `256m`, `1g`, `512k`, `1048576`. */
export function memoryMb(size: string): number {
  const match = /^(\d+)([bkmg]?)$/.exec(size)
  if (!match) throw new RangeError(`${JSON.stringify(size)} is not a memory size like 256m`)
  return (Number(match[1]) * MEMORY_UNITS[match[2] || 'b']!) / 1024 ** 2
}

/**
 * A global service (mode global, or neither mode nor replicas: what berth always ran) or a
 * count (mode replicated defaults to 1).
 */
export function replicasOf(spec: Pick<ServiceSpec, 'mode' | 'replicas'>): number | 'global' {
  if (spec.mode === 'global') return 'global'
  if (spec.replicas !== undefined) return spec.replicas
  return spec.mode === 'replicated' ? 1 : 'global'
}
