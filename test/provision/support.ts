import {mkdir, writeFile} from 'node:fs/promises'
import {createServer, connect as tcpConnect, type Server, type Socket} from 'node:net'
import type {AddressInfo} from 'node:net'
import path from 'node:path'


import {sshTarget} from '../support/services.js'
import {generateEd25519} from '../../src/ssh/keygen.js'

/**
 * A cluster whose machines all live behind the test sshd on loopback: cluster.yaml with
 * documentation-range IPs that are never contacted, host keys remembered as the sshd's
 * real key (or a wrong one for the machines named in `wrongKey`), and the sshd's client key
 * as the provisioner's identity.
 */
export async function loopbackCluster(dir: string, machines: string[], wrongKey: string[] = []): Promise<{file: string; stateRoot: string; stateDir: string; identity: string}> {
  const t = sshTarget()
  const pub = `${t.privateKeyPath}.pub`
  const file = path.join(dir, 'cluster.yaml')
  await writeFile(file, [
    'name: loop',
    'registry: {url: "192.0.2.2:5000"}',
    `ssh: {user: ${t.username}, authorizedKeyFiles: [${pub}]}`,
    'machines:',
    ...machines.map((m, i) => `  - {name: ${m}, ip: 192.0.2.${11 + i}, role: ${i < 1 ? 'main' : 'worker'}}`),
    'services:',
    '  web: {image: "examples/web:1", ports: ["8080:80"]}',
    '',
  ].join('\n'))
  const stateRoot = path.join(dir, 'state')
  const stateDir = path.join(stateRoot, 'clusters', 'loop')
  await mkdir(stateDir, {recursive: true, mode: 0o700})
  const keys: Record<string, {private: string; public: string}> = {}
  for (const m of machines) {
    const other = generateEd25519()
    keys[m] = wrongKey.includes(m) ? {private: '', public: other.public} : {private: '', public: t.hostKey}
  }
  await writeFile(path.join(stateDir, 'hostkeys.json'), JSON.stringify(keys), {mode: 0o600})
  return {file, stateRoot, stateDir, identity: t.privateKeyPath}
}

/**
 * A TCP relay to the test sshd that can cut every connection once `cutAfter` bytes have
 * gone from client to server: a network failure in the middle of an upload.
 */
export async function cuttingRelay(cutAfter: number): Promise<{port: number; cut: () => boolean; close: () => Promise<void>}> {
  const t = sshTarget()
  const sockets = new Set<Socket>()
  let cut = false
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(t.port, t.host)
    sockets.add(client).add(upstream)
    let sent = 0
    client.on('data', (chunk: Buffer) => {
      sent += chunk.length
      if (sent > cutAfter) {
        cut = true
        client.destroy()
        upstream.destroy()
        return
      }
      upstream.write(chunk)
    })
    upstream.on('data', (chunk: Buffer) => client.write(chunk))
    for (const s of [client, upstream]) s.on('error', () => undefined).on('close', () => { client.destroy(); upstream.destroy() })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    cut: () => cut,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
