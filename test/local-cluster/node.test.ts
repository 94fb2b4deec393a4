/**
 * One real node on the real dockerd: the image is ensured (built if missing, then cached),
 * a network and a registry are made, a node boots from a cloud-init seed written here, and
 * everything the run made is gone afterwards. Prints the timings it measures.
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {after, before, describe, it} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'

import ssh2 from 'ssh2'
import {stringify} from 'yaml'

import {connectDocker} from '../../src/docker.js'
import {DockerProvider} from '../../src/local-cluster/docker-provider.js'
import {ensureNodeImage, ensureRegistryImage} from '../../src/local-cluster/image.js'
import type {ClusterNetwork, NodeInfo, RegistryInfo} from '../../src/local-cluster/provider.js'
import {LABEL} from '../../src/local-cluster/provider.js'
import {addressIn} from '../../src/local-cluster/subnet.js'
import {generateEd25519} from '../../src/ssh/keygen.js'

const {Client, utils} = ssh2

const run = randomBytes(4).toString('hex')
const cluster = `test-${run}`
const provider = new DockerProvider()
const hostKey = generateEd25519()
const userKey = generateEd25519()
// Never contact Docker Hub from a test: the base comes from a local image or debootstrap.
const imageOptions = {pullTimeoutMs: 0, onProgress: () => {}}

let network: ClusterNetwork | undefined
let registry: RegistryInfo | undefined
let node: NodeInfo | undefined
let volumes: string[] = []

function userData(machine: string): string {
  const config = {
    hostname: machine,
    disable_root: false,
    users: [],
    ssh_authorized_keys: [userKey.public],
    ssh_keys: {ed25519_private: hostKey.private, ed25519_public: hostKey.public},
    write_files: [{path: '/etc/berth/hello', content: `hello from ${machine}\n`, permissions: '0644'}],
  }
  return `#cloud-config\n${stringify(config)}`
}

/** Runs `command` over SSH, accepting only the host key the seed carried. */
function sshRun(host: string, command: string): Promise<string> {
  const expected = (utils.parseKey(hostKey.public) as {getPublicSSH(): Buffer}).getPublicSSH()
  return new Promise((resolve, reject) => {
    const client = new Client()
    client
      .on('ready', () => {
        client.exec(command, (error, stream) => {
          if (error) return reject(error)
          let out = ''
          stream.on('data', (chunk: Buffer) => (out += chunk.toString()))
          stream.on('close', () => (client.end(), resolve(out)))
        })
      })
      .on('error', reject)
      .connect({host, username: 'root', privateKey: userKey.private, readyTimeout: 2000, hostVerifier: (key: Buffer) => key.equals(expected)})
  })
}

/** Retries `sshRun` until it succeeds; a wrong host key fails at once. */
async function waitForSsh(host: string, command: string, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await sshRun(host, command)
    } catch (error) {
      const message = (error as Error).message
      if (/verification failed/i.test(message) || Date.now() > deadline) throw error
      await sleep(200)
    }
  }
}

async function execOk(argv: string[]): Promise<string> {
  assert.ok(node)
  const result = await provider.exec(node.id, argv)
  assert.equal(result.code, 0, `${argv.join(' ')}: ${result.stdout}${result.stderr}`)
  return result.stdout.trim()
}

describe('a node container booted by the Docker provider', {timeout: 15 * 60_000}, () => {
  let nodeImage = ''

  before(async () => {
    const first = await ensureNodeImage(imageOptions)
    console.log(`node image ${first.tag}: ${first.built ? 'built' : 'found'} in ${first.seconds.toFixed(1)} s`)
    const second = await ensureNodeImage(imageOptions)
    console.log(`cached ensure of the node image: ${second.seconds.toFixed(2)} s`)
    assert.equal(second.built, false)
    assert.equal(second.tag, first.tag)
    nodeImage = first.tag
  })

  after(async () => {
    if (node) await provider.removeNode(node.id)
    if (registry) await provider.stopRegistry(registry)
    if (network) await provider.removeNetwork(network.id)
  })

  it('boots from its cloud-init seed, answers SSH with the given host key, and reaches the registry', async () => {
    const registryImage = await ensureRegistryImage(imageOptions)
    network = await provider.createNetwork(cluster, run)
    registry = await provider.startRegistry(network, run, registryImage.tag)

    const started = performance.now()
    const ip = addressIn(network.subnet, 10)
    const meta = `instance-id: ${cluster}-n1\nlocal-hostname: n1\n`
    node = await provider.createNode(network, run, {machine: 'n1', ip, image: nodeImage, metaData: meta, userData: userData('n1')})
    const docker = await connectDocker()
    volumes = (await docker.getContainer(node.id).inspect()).Mounts.flatMap((m) => (m.Name ? [m.Name] : []))

    assert.equal(await waitForSsh(ip, 'hostname'), 'n1\n')
    console.log(`node boot to SSH (verified host key): ${((performance.now() - started) / 1000).toFixed(1)} s`)

    assert.match(await execOk(['cloud-init', 'status', '--wait']), /status: done/)
    console.log(`node boot to cloud-init done: ${((performance.now() - started) / 1000).toFixed(1)} s`)
    assert.equal(await execOk(['systemctl', 'is-system-running', '--wait']), 'running')
    // The image's own promises: no cloud probed (network rule), no etcd of its own, inner Docker up.
    await execOk(['sh', '-c', '! grep -q 169.254.169.254 /var/log/cloud-init.log'])
    assert.equal((await provider.exec(node.id, ['systemctl', 'is-enabled', 'etcd'])).stdout.trim(), 'disabled')
    assert.equal(await execOk(['docker', 'info', '--format', '{{.Driver}}']), 'overlay2')
    assert.equal(await waitForSsh(ip, 'cat /etc/berth/hello'), 'hello from n1\n')
    assert.equal(await execOk(['curl', '-fsS', '--max-time', '5', `http://${registry.host}/v2/`]), '{}')
    assert.deepEqual((await provider.listNodes(cluster)).map((n) => [n.machine, n.ip, n.state]), [['n1', ip, 'running']])
  })

  it('keeps its address and host key across a restart', async () => {
    assert.ok(node && network)
    const started = performance.now()
    await provider.restartNode(node.id)
    assert.equal(await waitForSsh(node.ip, 'systemctl is-system-running --wait'), 'running\n')
    console.log(`node restart to SSH and running: ${((performance.now() - started) / 1000).toFixed(1)} s`)
  })

  it('removes everything the run made', async () => {
    assert.ok(node && registry && network)
    await provider.removeNode(node.id)
    await provider.stopRegistry(registry)
    await provider.removeNetwork(network.id)
    node = registry = network = undefined

    const docker = await connectDocker()
    const label = {label: [`${LABEL.run}=${run}`]}
    assert.deepEqual(await docker.listContainers({all: true, filters: label}), [])
    assert.deepEqual(await docker.listNetworks({filters: label}), [])
    assert.deepEqual((await docker.listVolumes({filters: label})).Volumes ?? [], [])
    const left = await docker.listVolumes()
    assert.ok(volumes.length > 0)
    for (const name of volumes) assert.ok(!left.Volumes?.some((v) => v.Name === name), `volume ${name} is left`)
  })
})
