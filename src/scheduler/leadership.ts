import type {Etcd3, IOperation} from 'etcd3'

import {BerthError} from '../errors.js'

/**
 * The scheduler's fence: the leader's own election key and the create revision it had when
 * it was elected. Every write of the leader (placements, rollouts, rollbacks) commits
 * through it, so a deposed leader's write fails.
 */

/** A write refused because this candidate is no longer the leader. */
export class DeposedError extends BerthError {}

/** The leadership won in one election: the key and create revision every write is fenced by. */
export class Leadership {
  constructor(readonly client: Etcd3, readonly key: string, readonly createRevision: string) {}

  /** Commits the operations only while this leadership holds; throws DeposedError otherwise. */
  async commit(ops: IOperation[]): Promise<void> {
    if (!(await this.commitIf(ops))) throw new DeposedError(`scheduler: ${this.key} is no longer the leader's key (created at revision ${this.createRevision}); another candidate leads now`)
  }

  /** Commits while this leadership holds and `guard`'s key is still at its modification revision; false when either moved. */
  async commitIf(ops: IOperation[], guard?: {key: string; modRevision: string}): Promise<boolean> {
    const txn = this.client.if(this.key, 'Create', '==', this.createRevision)
    if (guard) txn.and(guard.key, 'Mod', '==', guard.modRevision)
    return (await txn.then(...ops).commit()).succeeded
  }
}
