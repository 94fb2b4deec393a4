import type Dockerode from 'dockerode'

import {UsageError} from './errors.js'

/**
 * Connects to dockerd (DOCKER_HOST or the default socket) and checks that it answers.
 * dockerode is imported here, on first use, so that commands which never touch Docker
 * do not pay for loading it.
 */
export async function connectDocker(): Promise<Dockerode> {
  const {default: Docker} = await import('dockerode')
  const docker = new Docker()
  try {
    await docker.ping()
  } catch (error) {
    const where = process.env.DOCKER_HOST ?? '/var/run/docker.sock'
    throw new UsageError([{
      message: `cannot reach dockerd at ${where}: ${(error as Error).message}`,
      fix: 'start dockerd or set DOCKER_HOST',
    }])
  }
  return docker
}

/** True when dockerode reports that the object asked for does not exist. */
export function isNotFound(error: unknown): boolean {
  return (error as {statusCode?: number}).statusCode === 404
}
