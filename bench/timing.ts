import {performance} from 'node:perf_hooks'
import {setTimeout} from 'node:timers/promises'

/** Percentile of sorted samples (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

/** Runs `fn` `runs` times (after `warmup` runs) and returns the sorted durations in ms. */
export async function measure(fn: () => Promise<unknown> | unknown, runs: number, warmup = 1): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn()
  const samples: number[] = []
  for (let i = 0; i < runs; i++) {
    const start = performance.now()
    await fn()
    samples.push(performance.now() - start)
  }
  return samples.sort((a, b) => a - b)
}

/** One row of a benchmark table. */
export interface Row {
  what: string
  samples: number[]
  target?: string
  note?: string
}

/** Prints rows as a Markdown table: the README quotes it as is. */
export function printTable(title: string, rows: Row[]): void {
  console.log(`\n### ${title}\n`)
  console.log('| what | runs | p50 ms | p95 ms | max ms | target | note |')
  console.log('|---|---:|---:|---:|---:|---|---|')
  for (const r of rows) {
    const f = (n: number) => n.toFixed(n < 10 ? 1 : 0)
    console.log(`| ${r.what} | ${r.samples.length} | ${f(percentile(r.samples, 50))} | ${f(percentile(r.samples, 95))} | ${f(r.samples.at(-1)!)} | ${r.target ?? ''} | ${r.note ?? ''} |`)
  }
}

/** Polls `probe` every 100 ms; resolves with the time since `since` at which it first holds. */
export async function when(since: number, what: string, probe: () => Promise<boolean>, seconds = 180): Promise<number> {
  for (const deadline = performance.now() + seconds * 1000; performance.now() < deadline; await setTimeout(100)) {
    if (await probe().catch(() => false)) return performance.now() - since
  }
  throw new Error(`${what}: not within ${seconds} s`)
}
