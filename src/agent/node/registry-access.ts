import {readFile} from 'node:fs/promises'
import {homedir} from 'node:os'
import path from 'node:path'

import type {RegistryCredentials} from '../../images/digest.js'
import type {RegistryAccess} from '../../images/pin.js'
import {authCredentials} from '../store/pull-credentials.js'

/**
 * How this node reaches a registry, as its own dockerd and docker CLI do, so that a digest
 * lookup (src/images/digest.ts) goes where the node's pulls go: plain HTTP for a registry
 * dockerd calls insecure (`insecure-registries`, or an address in its insecure CIDRs such as
 * 127.0.0.0/8), and the pull credentials of docker's config.json (`docker login`) for it.
 */

/** What `docker info` says about registries (dockerode's RegistryConfig). */
export interface RegistryConfig {
  InsecureRegistryCIDRs?: string[]
  IndexConfigs?: Record<string, {Secure?: boolean}>
}

/** Whether dockerd talks plain HTTP to `registry` (host[:port]). */
export function isInsecure(registry: string, config: RegistryConfig): boolean {
  if (config.IndexConfigs?.[registry]?.Secure === false) return true
  const host = registry.replace(/:\d+$/, '')
  return (config.InsecureRegistryCIDRs ?? []).some((cidr) => inCidr(host, cidr))
}

function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/')
  const toInt = (text: string): number | undefined => {
    const parts = text.split('.').map(Number)
    return parts.length === 4 && parts.every((n) => Number.isInteger(n) && n >= 0 && n <= 255) ? parts.reduce((a, n) => a * 256 + n, 0) : undefined
  }
  const [a, b] = [toInt(ip), toInt(base ?? '')]
  if (a === undefined || b === undefined) return false
  const size = 2 ** (32 - Number(bits ?? 32))
  return Math.floor(a / size) === Math.floor(b / size)
}

/** The `auths` entry of docker's config.json for `registry` (`auth` is base64 of user:password), or undefined. */
export function configCredentials(config: {auths?: Record<string, {auth?: string}>}, registry: string): RegistryCredentials | undefined {
  const entry = config.auths?.[registry] ?? config.auths?.[`https://${registry}`] ?? config.auths?.[`http://${registry}`]
  return entry?.auth ? authCredentials({auth: entry.auth}) : undefined
}

/** The node's access: dockerd's registry settings (read on each lookup, a few ms) and docker's config.json. */
export function nodeRegistryAccess(info: () => Promise<RegistryConfig>, configFile = path.join(process.env.DOCKER_CONFIG ?? path.join(homedir(), '.docker'), 'config.json')): RegistryAccess {
  return async (registry) => {
    const [config, docker] = await Promise.all([
      info().catch(() => ({})),
      readFile(configFile, 'utf8').then((text) => JSON.parse(text) as {auths?: Record<string, {auth?: string}>}, () => ({})),
    ])
    const credentials = configCredentials(docker, registry)
    return {plainHttp: isInsecure(registry, config), ...(credentials ? {credentials} : {})}
  }
}

/** dockerd's RegistryConfig through dockerode (loaded on first use). */
export function dockerRegistryConfig(socketPath?: string): () => Promise<RegistryConfig> {
  return async () => {
    const {default: Docker} = await import('dockerode')
    const info = await new Docker(socketPath ? {socketPath} : undefined).info() as {RegistryConfig?: RegistryConfig}
    return info.RegistryConfig ?? {}
  }
}
