import {randomBytes} from 'node:crypto'
import {copyFile, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {request} from 'node:https'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {execa} from 'execa'

import {AGENT_COMMAND, AGENT_CONTAINER_ARGS} from '../../src/provision/agent-unit.js'
import {done, notYet, pollUntil} from '../../src/poll.js'
import {berth, type CliResult} from '../support/cli.js'

/**
 * A one-node local cluster running berth-agent as a container on its node, as an operator
 * would set it up: the agent and a test service image loaded into the node's dockerd, the
 * node secrets (master key, admin token, TLS key) put there over `berth local-cluster ssh`
 * with mode 0600, desired state in the node's etcd, and the admin API over HTTPS on the
 * node's address with a certificate made here. Shared by node-e2e.test.ts and the bench.
 */

/** The test service's image: busybox-static alone, so loading it into a node is quick. */
export const WEB_IMAGE = 'localhost/berth-test-web:1'
/** The agent's container name on the node. */
export const AGENT = 'berth-agent'

/** An admin API answer. */
export interface ApiAnswer {
  status: number
  headers: Record<string, string | string[] | undefined>
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON read back by tests
  body: any
}

/** A running one-node local cluster, the test service's image loaded into its dockerd. */
export interface TestNode {
  name: string
  dir: string
  ip: string
  nodeId: string
  /** Runs a shell command on the node over `berth local-cluster ssh`. */
  sh(command: string, input?: string): Promise<CliResult>
  destroy(): Promise<void>
}

/** A running one-node cluster with the agent on it. */
export interface AgentNode extends TestNode {
  token: string
  ca: Buffer
  /** Calls the admin API; `token: null` sends none. */
  api(method: string, path: string, body?: unknown, token?: string | null, headers?: Record<string, string>): Promise<ApiAnswer>
}

/**
 * Starts a one-node local cluster named `prefix-<random>` and loads the test service's
 * image (and `images`) into its dockerd; destroy() removes it, whatever happened.
 */
export async function startNode(prefix: string, images: readonly string[] = []): Promise<TestNode> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-node-'))
  const env = {BERTH_STATE_DIR: dir}
  const destroy = async (): Promise<void> => {
    await berth(['local-cluster', 'destroy', '--name', name], {env})
    await rm(dir, {recursive: true, force: true})
  }
  try {
    const started = await berth(['local-cluster', 'start', '1', '--name', name, '--json'], {env})
    if (started.exitCode !== 0) throw new Error(`local-cluster start: ${started.stderr}`)
    const ip = (JSON.parse(started.stdout) as {nodes: {ip: string}[]}).nodes[0]!.ip
    const nodeId = (await execa('docker', ['ps', '-q', '--no-trunc', '--filter', `label=berth.cluster=${name}`, '--filter', 'label=berth.role=node'])).stdout.trim()
    const sh = (command: string, input?: string) => berth(['local-cluster', 'ssh', 'main-1', '--name', name, '--', command], {env, input})
    await Promise.all([...images, await webImage()].map((image) => loadImage(nodeId, image)))
    return {name, dir, ip, nodeId, sh, destroy}
  } catch (error) {
    await destroy()
    throw error
  }
}

/** Starts a one-node local cluster with berth-agent running on it as the installer runs it. */
export async function startAgentNode(prefix: string, agentImage = 'berth/installer:latest'): Promise<AgentNode> {
  const base = await startNode(prefix, [agentImage])
  const {ip, sh, destroy} = base
  try {
    const token = randomBytes(24).toString('hex')
    const ca = await putNodeSecrets(sh, ip, token)
    const options = {
      listen: `${ip}:8443`, store: {kind: 'etcd', endpoints: ['http://127.0.0.1:2379']}, tokenFile: '/etc/berth/secrets/api-token',
      tls: {certFile: '/etc/berth/secrets/api.crt', keyFile: '/etc/berth/secrets/api.key'}, allowedOrigins: ['https://admin.example.test'],
      secrets: {kind: 'local', masterKeyFile: '/etc/berth/secrets/master.key'}, resyncSeconds: 30,
    }
    await check(sh('cat > /etc/berth/agent.json', JSON.stringify(options, null, 2)))
    await check(sh(runAgentCommand(agentImage)))
    const node: AgentNode = {...base, token, ca, api: (method, p, body, t = token, h = {}) => callApi(ip, ca, method, p, body, t, h)}
    await waitUntil(async () => (await node.api('GET', '/v1/health').catch(() => ({status: 0}))).status === 200, 30_000, 'the admin API answers')
    return node
  } catch (error) {
    await destroy()
    throw error
  }
}

/** The `docker run` that starts the agent on the node, as the installer's unit does. */
export function runAgentCommand(image: string): string {
  return ['docker run -d --name', AGENT, AGENT_CONTAINER_ARGS, image, AGENT_COMMAND].join(' ')
}

/** `docker save IMAGE | docker exec -i NODE docker load`: the node cannot pull from here. */
export async function loadImage(nodeId: string, image: string): Promise<void> {
  await execa('docker', ['save', image], {buffer: false}).pipe('docker', ['exec', '-i', nodeId, 'docker', 'load'])
}

/** Builds the test service image from the host's static busybox (FROM scratch: nothing to pull). */
export async function webImage(): Promise<string> {
  return busyboxImage(WEB_IMAGE, 'ENTRYPOINT ["/bin/busybox"]\nCMD ["httpd", "-f", "-p", "8080"]\n')
}

/** An image of the host's static busybox alone, FROM scratch (nothing to pull), with `rest` after its COPY; built once per tag. */
export async function busyboxImage(tag: string, rest: string): Promise<string> {
  if ((await execa('docker', ['image', 'inspect', tag], {reject: false})).exitCode === 0) return tag
  const context = await mkdtemp(path.join(tmpdir(), 'berth-busybox-'))
  try {
    await copyFile('/bin/busybox', path.join(context, 'busybox'))
    await writeFile(path.join(context, 'Dockerfile'), `FROM scratch\nCOPY busybox /bin/busybox\n${rest}`)
    await execa('docker', ['build', '-q', '-t', tag, context], {env: {DOCKER_BUILDKIT: '0'}})
  } finally {
    await rm(context, {recursive: true, force: true})
  }
  return tag
}

/** Master key, admin token and a self-signed certificate for the node's IP, each 0600 on the node. */
async function putNodeSecrets(sh: AgentNode['sh'], ip: string, token: string): Promise<Buffer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-tls-'))
  try {
    await execa('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', '/CN=berth-agent e2e', '-addext', `subjectAltName=IP:${ip}`, '-keyout', path.join(dir, 'key'), '-out', path.join(dir, 'crt')])
    const put = (file: string, content: string, decode = false) =>
      check(sh(`umask 077 && mkdir -p /etc/berth/secrets && ${decode ? 'base64 -d' : 'cat'} > /etc/berth/secrets/${file}`, content))
    await put('master.key', randomBytes(32).toString('base64'), true)
    await put('api-token', `${token}\n`)
    await put('api.key', await readFile(path.join(dir, 'key'), 'utf8'))
    await put('api.crt', await readFile(path.join(dir, 'crt'), 'utf8'))
    return await readFile(path.join(dir, 'crt'))
  } finally {
    await rm(dir, {recursive: true, force: true})
  }
}

async function callApi(ip: string, ca: Buffer, method: string, p: string, body: unknown, token: string | null, extra: Record<string, string>): Promise<ApiAnswer> {
  const payload = body === undefined ? undefined : JSON.stringify(body)
  const headers: Record<string, string> = {...extra}
  if (token !== null) headers.authorization = `Bearer ${token}`
  if (payload !== undefined) headers['content-type'] = 'application/json'
  return new Promise((resolve, reject) => {
    const req = request({host: ip, port: 8443, method, path: p, ca, headers, timeout: 10_000}, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString()
        resolve({status: res.statusCode ?? 0, headers: res.headers, body: text ? JSON.parse(text) : undefined})
      })
    })
    req.on('error', reject)
    req.on('timeout', () => req.destroy(new Error(`${method} ${p} timed out`)))
    req.end(payload)
  })
}

/** Fails with the command's stderr unless it exited 0. */
export async function check(result: Promise<CliResult>): Promise<string> {
  const r = await result
  if (r.exitCode !== 0) throw new Error(`exit ${r.exitCode}: ${r.stderr || r.stdout}`)
  return r.stdout
}

/** Polls `test` until it holds or `ms` pass. */
export async function waitUntil(test: () => Promise<boolean>, ms: number, what: string, everyMs = 100): Promise<void> {
  await pollUntil(async () => (await test() ? done(undefined) : notYet(false)), {timeoutMs: ms, intervalMs: everyMs, retryOn: () => false, onTimeout: () => new Error(`gave up after ${ms / 1000} s waiting until ${what}`)})
}
