import {chmod, mkdir, rm, stat} from 'node:fs/promises'
import path from 'node:path'

import {writeFileAtomic} from '../../fsx.js'
import {runImage} from '../../images/reference.js'
import {envFilePath, labelFilePath, renderLabelFile, specHash} from '../plan/docker-run.js'
import {renderEnvFile} from '../../spec/env-file.js'
import type {NodeOps, RegistryAuth} from './node-ops.js'
import type {Action, Desired} from '../plan/reconcile.js'
import type {ServiceSpec} from '../../spec/service.js'

/**
 * Executes a plan's actions in order and records each service's outcome. A service that
 * fails (a secret missing or undecryptable, an image that cannot be pulled, a unit systemd
 * refuses) fails alone: its later actions in this pass are skipped, the others go on, and
 * the next pass tries again because the plan is level-based.
 */

/** What one pass did for one service. */
export interface ServiceOutcome {
  ok: boolean
  /** Why it failed: names the secret, image or unit, never a secret's value. */
  error?: string
  /** The actions carried out, like `writeUnit`, `restart`. */
  actions: string[]
}

/** What apply needs from the agent: the node, where things live, and the secrets opener. */
export interface ApplyContext {
  ops: NodeOps
  prefix: string
  unitDir: string
  envFileDir: string
  registry?: string
  desired: Desired
  /** Decrypts the named secrets of a service (name → value); throws naming the secret that fails. */
  openSecrets(names: readonly string[]): Promise<Map<string, string>>
}

/** The outcome of applying one plan: per service, and failures that belong to no service. */
export interface ApplyResult {
  outcomes: Map<string, ServiceOutcome>
  errors: string[]
}

/**
 * Runs the actions in order; never throws for one service's failure. A run of starts (and
 * restarts) of different services goes at once: each waits for its image check and
 * systemctl, and replicas moved off a lost machine should not start one after another.
 */
export async function applyPlan(actions: readonly Action[], ctx: ApplyContext): Promise<ApplyResult> {
  const outcomes = new Map<string, ServiceOutcome>()
  for (const name of ctx.desired.keys()) outcomes.set(name, {ok: true, actions: []})
  const errors: string[] = []
  const one = async (action: Exclude<Action, {kind: 'daemonReload'}>): Promise<void> => {
    const outcome = outcomes.get(action.service) ?? {ok: true, actions: []}
    outcomes.set(action.service, outcome)
    if (!outcome.ok) return
    try {
      await run(action, ctx)
      outcome.actions.push(action.kind)
    } catch (error) {
      outcome.ok = false
      outcome.error = `${action.kind}: ${(error as Error).message}`
    }
  }
  for (let i = 0; i < actions.length; i++) {
    const action = actions[i]!
    if (action.kind === 'daemonReload') {
      await ctx.ops.systemctl(['daemon-reload']).catch((error: Error) => errors.push(error.message))
      continue
    }
    const starts: Exclude<Action, {kind: 'daemonReload'}>[] = [action]
    const services = new Set([action.service])
    while (isStart(action) && i + 1 < actions.length) {
      const next = actions[i + 1]!
      if (next.kind === 'daemonReload' || !isStart(next) || services.has(next.service)) break
      starts.push(next)
      services.add(next.service)
      i++
    }
    await Promise.all(starts.map(one))
  }
  return {outcomes, errors}
}

function isStart(action: Action): boolean {
  return action.kind === 'start' || action.kind === 'restart'
}

async function run(action: Exclude<Action, {kind: 'daemonReload'}>, ctx: ApplyContext): Promise<void> {
  switch (action.kind) {
    case 'writeUnit':
      return writeFileAtomic(path.join(ctx.unitDir, action.unit), action.content, 0o644)
    case 'stop':
      return ctx.ops.systemctl(['stop', action.unit])
    case 'removeUnit':
      await rm(path.join(ctx.unitDir, action.unit), {force: true})
      // The env file may hold secrets: it goes with the unit that used it, and so does the label file.
      await rm(envFilePath(ctx.prefix, action.service, {envFileDir: ctx.envFileDir}), {force: true})
      await rm(labelFilePath(ctx.prefix, action.service, {envFileDir: ctx.envFileDir}), {force: true})
      // A failed unit stays listed after its file is gone until this forgets it.
      await ctx.ops.systemctl(['reset-failed', action.unit]).catch(() => undefined)
      return
    case 'start':
    case 'restart':
      await prepareStart(action.service, ctx)
      return ctx.ops.systemctl([action.kind, action.unit])
    case 'removeContainer':
      return ctx.ops.removeContainer(action.id)
  }
}

/**
 * What must be true before a service's unit starts: its image is on the node (so a bad
 * image fails here, with a reason, rather than in a restart loop), and its env file and
 * label file hold its env with freshly decrypted secrets and its spec hash, mode 0600 on the
 * tmpfs, and nowhere else. The unit names both files whatever the spec holds, and units are
 * never enabled, so after a reboot (the tmpfs empty) no unit starts before this has written
 * them. A pull secret is opened for the pull alone and goes only into dockerd's request header.
 */
async function prepareStart(service: string, ctx: ApplyContext): Promise<void> {
  const spec = ctx.desired.get(service) as ServiceSpec
  await ctx.ops.ensureImage(runImage(spec, ctx.registry), spec.pullSecret === undefined ? undefined : await pullAuth(spec.pullSecret, ctx))
  const secrets = (spec.secrets ?? []).length > 0 ? await ctx.openSecrets(spec.secrets ?? []) : new Map<string, string>()
  // The directory is berth's alone: a bind mount may have created it 0755, so it is tightened.
  await mkdir(ctx.envFileDir, {recursive: true, mode: 0o700})
  if (((await stat(ctx.envFileDir)).mode & 0o077) !== 0) await chmod(ctx.envFileDir, 0o700)
  const files = {envFileDir: ctx.envFileDir, registry: ctx.registry}
  // The env file first: a container systemd restarts between the two renames gets the new
  // env with the old hash, which the next pass sees as stale and restarts; never the reverse.
  await writeFileAtomic(envFilePath(ctx.prefix, service, files), renderEnvFile(spec.env, secrets), 0o600)
  await writeFileAtomic(labelFilePath(ctx.prefix, service, files), renderLabelFile(specHash(ctx.prefix, service, spec, files)), 0o600)
}

/** Opens a service's pull secret: a Docker auth object as JSON; a message names the secret, never its value. */
async function pullAuth(name: string, ctx: ApplyContext): Promise<RegistryAuth> {
  const text = (await ctx.openSecrets([name])).get(name) ?? ''
  let auth: unknown
  try {
    auth = JSON.parse(text)
  } catch {
    auth = undefined
  }
  if (typeof auth !== 'object' || auth === null || Array.isArray(auth)) throw new Error(`pull secret ${name} is not a JSON Docker auth object; set it again as {"username": …, "password": …}`)
  return auth as RegistryAuth
}
