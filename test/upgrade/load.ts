/**
 * A bounded load generator for the upgrade tests and bench: a few workers send GETs to one
 * loopback URL back to back until stopped (or a request cap), counting answers that are not
 * 200 and requests that failed outright, with the first few failures kept for the message.
 */

/** What the load saw. */
export interface LoadReport {
  requests: number
  ok: number
  non200: number
  errors: number
  failures: string[]
  seconds: number
}

/** Starts the load; `stop()` ends it and returns the counts. */
export function startLoad(url: string, options: {workers?: number; maxRequests?: number; timeoutMs?: number} = {}): {stop: () => Promise<LoadReport>; report: () => LoadReport} {
  if (!/^http:\/\/127\.0\.0\.1:\d+\//.test(url)) throw new Error(`the load only goes to loopback: ${url}`)
  const {workers = 4, maxRequests = 1_000_000, timeoutMs = 5000} = options
  const started = performance.now()
  const report: LoadReport = {requests: 0, ok: 0, non200: 0, errors: 0, failures: [], seconds: 0}
  let stopping = false
  const note = (what: string) => {
    if (report.failures.length < 10) report.failures.push(`${((performance.now() - started) / 1000).toFixed(1)} s: ${what}`)
  }
  const worker = async () => {
    while (!stopping && report.requests < maxRequests) {
      report.requests++
      try {
        const response = await fetch(url, {signal: AbortSignal.timeout(timeoutMs)})
        await response.arrayBuffer()
        if (response.status === 200) report.ok++
        else {
          report.non200++
          note(`HTTP ${response.status}`)
        }
      } catch (error) {
        report.errors++
        note((error as Error).message)
      }
    }
  }
  const running = Promise.all(Array.from({length: workers}, worker))
  const snapshot = () => ({...report, failures: [...report.failures], seconds: (performance.now() - started) / 1000})
  return {
    report: snapshot,
    stop: async () => {
      stopping = true
      await running
      return snapshot()
    },
  }
}
