import {readFile} from 'node:fs/promises'
import os from 'node:os'

/**
 * What this machine offers to replicas' reservations, as its agent reports it: its memory
 * and CPUs, or its cgroup's limits when those are lower (a node that is itself a container
 * with a memory or CPU limit), unless the agent's options say otherwise.
 */

/** Memory in MB and CPUs, measured here; `override` wins field by field. */
export async function machineCapacity(override: {memoryMb?: number; cpus?: number} = {}, cgroupDir = '/sys/fs/cgroup'): Promise<{memoryMb: number; cpus: number}> {
  const [memoryMax, cpuMax] = await Promise.all([cgroupValue(cgroupDir, 'memory.max'), cgroupValue(cgroupDir, 'cpu.max')])
  const memory = Math.min(os.totalmem(), memoryMax && /^\d+$/.test(memoryMax) ? Number(memoryMax) : Infinity)
  const [quota, period] = (cpuMax ?? 'max').split(' ')
  const cpus = Math.min(os.availableParallelism(), quota && quota !== 'max' && period ? Number(quota) / Number(period) : Infinity)
  return {memoryMb: override.memoryMb ?? Math.floor(memory / 1024 ** 2), cpus: override.cpus ?? Math.round(cpus * 100) / 100}
}

async function cgroupValue(dir: string, file: string): Promise<string | undefined> {
  return (await readFile(`${dir}/${file}`, 'utf8').catch(() => undefined))?.trim()
}
