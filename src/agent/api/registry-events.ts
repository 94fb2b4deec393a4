import {createHmac} from 'node:crypto'
import type {IncomingMessage, ServerResponse} from 'node:http'

import type {RegistryPushRecord} from '../../layout/records.js'
import {checkToken} from './guard.js'
import {ApiError, readJson, sendJson} from './http.js'

/**
 * `POST /v1/registry-events`: the distribution registry's push notifications
 * (`notifications.endpoints[]` in its config). The registry authenticates with a token of its
 * own (the endpoint's `headers: {Authorization: [Bearer …]}`), not the admin token: it may
 * only say that tags moved. That token is derived from the admin token (an HMAC, so it
 * gives nothing of the admin token away), so every agent and the provisioner know it
 * without another node secret. Every push of a tagged manifest is handed on (the agent writes
 * it to etcd, where the scheduler's leader watches it, since this agent may not lead); the
 * leader looks the tag up itself, so an event can wake it but never choose a digest.
 */

/** The notification envelope's media type. */
export const EVENTS_TYPE = 'application/vnd.docker.distribution.events.v1+json'

/** One push the registry told of. */
export type RegistryPush = RegistryPushRecord['pushes'][number]

/** What the route needs: the registry's token, and where pushes go. */
export interface RegistryEventsDeps {
  token: string
  /** Hands the pushes on (to etcd); must not wait for the upgrade. */
  notify(pushes: RegistryPush[]): Promise<void>
}

/** The registry's token for this route: HMAC-SHA256 of a fixed label under the admin token, base64url. */
export function registryEventsToken(adminToken: string): string {
  return createHmac('sha256', adminToken).update('berth registry events v1').digest('base64url')
}

/** The path the registry posts to. */
export const REGISTRY_EVENTS_PATH = '/v1/registry-events'

/** The tagged manifest pushes of an envelope; pulls, blob pushes and malformed events are left out. */
export function pushesOf(body: unknown): RegistryPush[] {
  const events = (body as {events?: unknown} | null)?.events
  if (!Array.isArray(events)) throw new ApiError(400, 'invalid_events', 'the body must be a registry notification envelope: {"events": [...]}')
  const pushes: RegistryPush[] = []
  for (const event of events as Array<{action?: unknown; target?: {repository?: unknown; tag?: unknown; digest?: unknown}}>) {
    const target = event?.target
    if (event?.action !== 'push' || typeof target?.repository !== 'string' || typeof target.tag !== 'string' || target.tag === '') continue
    pushes.push({repository: target.repository, tag: target.tag, ...(typeof target.digest === 'string' ? {digest: target.digest} : {})})
  }
  return pushes
}

/** Answers the registry: 401 without its token, 404 where the route is off (no etcd), else 200 with how many pushes were handed on. */
export async function serveRegistryEvents(req: IncomingMessage, res: ServerResponse, deps: RegistryEventsDeps | undefined): Promise<void> {
  if (!deps) throw new ApiError(404, 'not_found', `${REGISTRY_EVENTS_PATH} is off on this agent: auto-upgrade needs the etcd store`)
  if (req.method !== 'POST') throw new ApiError(405, 'method_not_allowed', 'use POST here', undefined, {allow: 'POST'})
  checkToken(req, deps.token)
  const pushes = pushesOf(await readJson(req, [EVENTS_TYPE, 'application/json']))
  if (pushes.length > 0) await deps.notify(pushes)
  sendJson(res, 200, {accepted: pushes.length})
}

/** Writes pushes to etcd's registry-push key (a RegistryPushRecord), where the leader's auto-upgrade watches. */
export function etcdPushNotifier(put: (key: string, value: string) => Promise<void>, key: string, machine: string): RegistryEventsDeps['notify'] {
  return async (pushes) => {
    const record: RegistryPushRecord = {at: new Date().toISOString(), machine, pushes}
    await put(key, JSON.stringify(record))
  }
}
