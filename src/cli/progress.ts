/**
 * Long work is a list of named steps; this is the one place that shows their progress
 * (listr2, loaded on first use). Plans stay data: `--dry-run` prints the same titles, each
 * with what its step would do where the step can tell (`preview`).
 */

/** One step of a plan: what it does, in words, and the work. */
export interface Step {
  title: string
  /** Returns an optional note shown after the title once done (what it found or changed). */
  run: () => Promise<string | void>
  /** For --dry-run: what the step would do with its arguments, read from the live cluster; changes nothing. */
  preview?: () => Promise<string>
}

/** How progress is shown: a live list on a terminal, plain lines otherwise, nothing with --json. */
export type ProgressMode = 'auto' | 'plain' | 'silent'

/** Runs the steps in order, stopping at the first failure (whose error is re-thrown as is). */
export async function runSteps(steps: Step[], mode: ProgressMode = 'auto'): Promise<void> {
  const {Listr} = await import('listr2')
  const renderer = mode === 'silent' ? 'silent' : mode === 'plain' || !process.stdout.isTTY ? 'simple' : 'default'
  const list = new Listr(
    steps.map((step) => ({
      title: step.title,
      task: async (_: unknown, task: {title: string}) => {
        const note = await step.run()
        if (note) task.title = `${step.title}: ${note}`
      },
    })),
    {renderer, exitOnError: true, rendererOptions: {collapseErrors: false}},
  )
  await list.run()
}

/**
 * Runs one long step whose title follows its progress (`update` sets it, like a rollout's
 * batch), and returns what the work returned; a failure is re-thrown as is.
 */
export async function runFollowing<T>(title: string, work: (update: (text: string) => void) => Promise<T>, mode: ProgressMode = 'auto'): Promise<T> {
  const {Listr} = await import('listr2')
  const renderer = mode === 'silent' ? 'silent' : mode === 'plain' || !process.stdout.isTTY ? 'simple' : 'default'
  let result: T | undefined
  const list = new Listr([{
    title,
    task: async (_: unknown, task: {title: string; output?: string}) => {
      result = await work((text) => {
        // The simple renderer prints each new title on a line of its own: the progress as a log.
        task.title = `${title}: ${text}`
      })
    },
  }], {renderer, exitOnError: true, rendererOptions: {collapseErrors: false}})
  await list.run()
  return result as T
}

/**
 * What a command does with a plan: print it (`--dry-run`, returning its lines) or run it,
 * and close what the command opened for it (the flow's etcd client, its machines) either
 * way. The previews run one after the other on the clients the steps were handed.
 */
export async function planOrRun(plan: {steps: Step[]; close?: () => unknown}, options: {dryRun: boolean; mode: ProgressMode; log: (text: string) => void}): Promise<{plan: string[]} | undefined> {
  try {
    if (options.dryRun) {
      const lines: string[] = []
      for (const step of plan.steps) {
        // A cluster that cannot be read still gets its plan: the step says why it cannot tell more.
        const preview = step.preview && await step.preview().catch((error: Error) => `cannot tell what it would do (${error.message})`)
        lines.push(preview ? `${step.title}: ${preview}` : step.title)
      }
      options.log(lines.map((line, i) => `${i + 1}. ${line}`).join('\n'))
      return {plan: lines}
    }
    await runSteps(plan.steps, options.mode)
    return undefined
  } finally {
    await plan.close?.()
  }
}

/**
 * Runs the steps side by side, at most `concurrency` at once; a failing step does not stop
 * the others. Returns each step's error (undefined where it succeeded), in the steps' order.
 */
export async function runConcurrent(steps: Step[], concurrency: number, mode: ProgressMode = 'auto'): Promise<(Error | undefined)[]> {
  const {Listr} = await import('listr2')
  const renderer = mode === 'silent' ? 'silent' : mode === 'plain' || !process.stdout.isTTY ? 'simple' : 'default'
  const errors: (Error | undefined)[] = steps.map(() => undefined)
  const list = new Listr(
    steps.map((step, i) => ({
      title: step.title,
      task: async (_: unknown, task: {title: string}) => {
        try {
          const note = await step.run()
          if (note) task.title = `${step.title}: ${note}`
        } catch (error) {
          errors[i] = error as Error
          throw error
        }
      },
    })),
    {renderer, concurrent: Math.max(1, concurrency), exitOnError: false, rendererOptions: {collapseErrors: false}},
  )
  await list.run()
  return errors
}
