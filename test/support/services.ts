import {readFileSync} from 'node:fs'

/**
 * Where the real components started by `scripts/services.sh start` listen. Values come from
 * the environment (`eval "$(scripts/services.sh env)"`), else from the env file that script
 * writes. A missing value fails the test that needs it; nothing is skipped.
 */

const ENV_FILE = `${process.env.BERTH_TEST_SERVICES_DIR ?? '/tmp/berth-test-services'}/env`

let fromFile: Record<string, string> | undefined

/** Parses the `export NAME='value'` lines services.sh writes; an absent file gives nothing. */
function envFile(): Record<string, string> {
  if (fromFile) return fromFile
  fromFile = {}
  let text = ''
  try {
    text = readFileSync(ENV_FILE, 'utf8')
  } catch {
    return fromFile
  }
  for (const line of text.split('\n')) {
    const m = /^export (BERTH_TEST_[A-Z_]+)='([^']*)'$/.exec(line.trim())
    if (m?.[1] && m[2] !== undefined) fromFile[m[1]] = m[2]
  }
  return fromFile
}

/** The value of one BERTH_TEST_* variable, or an error telling how to start the services. */
export function serviceEnv(name: string): string {
  const value = process.env[name] || envFile()[name]
  if (!value) {
    throw new Error(
      `${name} is not set and ${ENV_FILE} does not define it: run \`sudo scripts/services.sh start\` ` +
        '(then `eval "$(scripts/services.sh env)"` or just rerun the tests)',
    )
  }
  return value
}

/** The etcd client URL, e.g. http://127.0.0.1:23790. */
export function etcdUrl(): string {
  return serviceEnv('BERTH_TEST_ETCD')
}

/** The PostgreSQL connection string of the `berth_test` database. */
export function postgresUrl(): string {
  return serviceEnv('BERTH_TEST_PG')
}

/** The registry's host:port (plain HTTP, no auth). */
export function registryAddress(): string {
  return serviceEnv('BERTH_TEST_REGISTRY')
}

/** The Docker socket path of the dockerd tests may use. */
export function dockerSocket(): string {
  return serviceEnv('BERTH_TEST_DOCKER').replace(/^unix:\/\//, '')
}

/** How to reach the test sshd: address, user, the client's private key and the server's host key. */
export interface SshTarget {
  host: string
  port: number
  username: string
  privateKeyPath: string
  privateKey: string
  /** The server's host key as an OpenSSH public key line. */
  hostKey: string
}

/** The test sshd, with its key files read; fails when a file is missing or unreadable. */
export function sshTarget(): SshTarget {
  const privateKeyPath = serviceEnv('BERTH_TEST_SSH_KEY')
  const hostKeyPath = serviceEnv('BERTH_TEST_SSH_HOSTKEY_PUB')
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8')
    } catch (error) {
      throw new Error(`cannot read ${file} (${(error as Error).message}): run \`sudo scripts/services.sh start\``)
    }
  }
  return {
    host: serviceEnv('BERTH_TEST_SSH_HOST'),
    port: Number(serviceEnv('BERTH_TEST_SSH_PORT')),
    username: serviceEnv('BERTH_TEST_SSH_USER'),
    privateKeyPath,
    privateKey: read(privateKeyPath),
    hostKey: read(hostKeyPath).trim(),
  }
}

/** Deletes every key under `prefix` in the test etcd: a test file's cleanup of its own unique prefix. */
export async function deleteEtcdPrefix(prefix: string): Promise<void> {
  const {Etcd3} = await import('etcd3')
  const client = new Etcd3({hosts: [etcdUrl()]})
  try {
    await client.delete().prefix(prefix).exec()
  } finally {
    client.close()
  }
}
