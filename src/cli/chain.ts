import {BerthError} from '../errors.js'
import type {Step} from './progress.js'

/**
 * A plan whose steps hand what they learn to the steps after them, typed: a step's `run`
 * gets the context the steps before it returned into (the plan's inputs first), and what
 * it returns besides its `note` joins the context. No step reaches into a variable another
 * step set; the compiler checks that what a step reads was handed on before it. The steps
 * are plain `Step`s, so runSteps runs them and planOrRun prints their previews.
 */
export class Chain<C extends object> {
  readonly #steps: Step[] = []
  #context: object
  #ran = 0

  constructor(inputs: C) {
    this.#context = {...inputs}
  }

  /**
   * Adds a step. `run` returns its note for the progress line and the values it hands on;
   * `preview` says, for --dry-run, what it would do with its arguments (it runs without the
   * steps before it, so it reads only the plan's inputs and the live cluster).
   */
  step<A extends {note?: string; [handed: string]: unknown}>(title: string, run: (context: C) => Promise<A>, preview?: () => Promise<string>): Chain<C & Omit<A, 'note'>> {
    const index = this.#steps.length
    this.#steps.push({
      title,
      ...(preview ? {preview} : {}),
      run: async () => {
        const {note, ...handed} = await run(this.#context as C)
        this.#context = {...this.#context, ...handed}
        this.#ran = index + 1
        return note
      },
    })
    return this as unknown as Chain<C & Omit<A, 'note'>>
  }

  /** Adds a step only `when` it applies; what it hands on is then optional to the steps after it. */
  stepWhen<A extends {note?: string; [handed: string]: unknown}>(when: boolean, title: string, run: (context: C) => Promise<A>, preview?: () => Promise<string>): Chain<C & Partial<Omit<A, 'note'>>> {
    return when ? this.step(title, run, preview) : this
  }

  /** The steps, in order. */
  get steps(): Step[] {
    return [...this.#steps]
  }

  /** What the steps that ran have handed on: for a failure's record or an undo. */
  handed(): Partial<C> {
    return this.#context as Partial<C>
  }

  /** The whole context, once every step has run. */
  result(): C {
    if (this.#ran < this.#steps.length) throw new BerthError(`the plan stopped after ${this.#ran} of ${this.#steps.length} steps`)
    return this.#context as C
  }
}
