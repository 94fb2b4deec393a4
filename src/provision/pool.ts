/**
 * Runs `work` on every item with at most `limit` running at once, and returns the results
 * in the items' order. A failing item does not stop the others: `work` reports failures
 * in its own result (the fan-out to machines wants every machine's outcome).
 */
export async function mapBounded<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      results[i] = await work(items[i] as T, i)
    }
  }
  await Promise.all(Array.from({length: Math.max(1, Math.min(limit, items.length))}, worker))
  return results
}
