import {readFile} from 'node:fs/promises'

import {openEtcd} from '../etcd/open.js'
import {EtcdUnreachableError, classifyEtcdError} from '../etcd/errors.js'
import {shipped} from '../paths.js'
import {type SnapshotMeta, encodeSnapshot} from './snapshot-file.js'

type Etcd3 = import('etcd3').Etcd3

/** A snapshot in berth's file format, with its metadata. */
export interface TakenSnapshot {
  bytes: Buffer
  meta: SnapshotMeta
}

/** berth's version, as the snapshot records it. */
async function berthVersion(): Promise<string> {
  if (process.env.BERTH_VERSION) return process.env.BERTH_VERSION
  const pkg = JSON.parse(await readFile(shipped('package.json'), 'utf8')) as {version: string}
  return pkg.version
}

/** Reads the whole snapshot stream of the member `client` talks to. */
function streamSnapshot(client: Etcd3): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    client.maintenance.snapshot().then((stream) => {
      stream.on('data', (chunk) => chunks.push(chunk.blob))
      stream.on('error', reject)
      stream.on('end', () => resolve(Buffer.concat(chunks)))
    }, reject)
  })
}

/**
 * Takes a snapshot through etcd's maintenance API from the first of `endpoints` that
 * answers (one client per member, so the status, the member list and the data come from
 * the same member), with its revision, etcd's cluster id and the members.
 */
export async function takeSnapshot(endpoints: readonly string[], cluster: string): Promise<TakenSnapshot> {
  return fromFirstMember(endpoints, 'no etcd member gave a snapshot', async (client, endpoint, status, members) => encodeSnapshot({
    cluster,
    etcdClusterId: String(status.header.cluster_id),
    revision: String(status.header.revision),
    members: members.map((m) => ({name: m.name, peerUrls: m.peerURLs})),
    takenFrom: endpoint,
    takenAt: new Date().toISOString(),
    berthVersion: await berthVersion(),
  }, await streamSnapshot(client)))
}

/** The member a snapshot would come from, read live: the first of `endpoints` that answers. */
export interface SnapshotSource {
  endpoint: string
  member: string
  memberId: string
  revision: string
  dbBytes: number
}

/** Which member takeSnapshot would stream from, and its revision and database size now; reads only. */
export async function snapshotSource(endpoints: readonly string[]): Promise<SnapshotSource> {
  return fromFirstMember(endpoints, 'no etcd member answers', async (_client, endpoint, status, members) => {
    const self = members.find((m) => m.ID === status.header.member_id)
    return {endpoint, member: self?.name ?? '', memberId: String(status.header.member_id), revision: String(status.header.revision), dbBytes: Number(status.dbSize)}
  })
}

type Client = Awaited<ReturnType<typeof openEtcd>>

/** `read` on the first of `endpoints` that answers, with its status and member list; every member's reason when none does. */
async function fromFirstMember<T>(endpoints: readonly string[], none: string, read: (client: Client, endpoint: string, status: Awaited<ReturnType<Client['maintenance']['status']>>, members: Awaited<ReturnType<Client['cluster']['memberList']>>['members']) => Promise<T>): Promise<T> {
  const reasons: string[] = []
  for (const endpoint of endpoints) {
    const client = await openEtcd([endpoint], {}, {callTimeoutMs: 2000})
    try {
      const status = await client.maintenance.status()
      const {members} = await client.cluster.memberList({})
      return await read(client, endpoint, status, members)
    } catch (error) {
      reasons.push(`${endpoint}: ${(await classifyEtcdError(error)).reason}`)
    } finally {
      client.close()
    }
  }
  throw new EtcdUnreachableError(`${none} (${reasons.join('; ')})`)
}
