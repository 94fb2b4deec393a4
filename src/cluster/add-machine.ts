import path from 'node:path'

import {addMachineToFile, removeMachineFromFile} from '../config/edit.js'
import {appendAudit} from '../audit/append.js'
import {resolveCluster} from '../config/load.js'
import type {Cluster, ClusterDocument, Machine, Role} from '../config/types.js'
import {BerthError, UnsafeOperationError} from '../errors.js'
import type {SharedEtcd} from '../etcd/client.js'
import {type MemberStatus, findMember} from '../etcd/members.js'
import {type EtcdJoin, type Format, clusterStateDir, etcdUrls, firstBootFileName, writeFirstBoot} from '../firstboot/index.js'
import {Chain} from '../cli/chain.js'
import type {Step} from '../cli/progress.js'
import {cannotWrite, inspectOutDir, removeFromOutDir, requireAddable} from '../out-dir.js'
import {ETCD_PREFIX} from '../layout/records.js'
import {checkAdd} from './safety.js'
import {etcdEndpoints, machineNamed} from './target.js'

/** What `cluster add-machine` is asked to do. */
export interface AddMachineRequest {
  cluster: Cluster
  /** cluster.yaml, which records the new machine once etcd has accepted it. */
  file: string
  existing: string
  ip: string
  name?: string
  role: Role
  format: Format
  outDir: string
  stateDir?: string
  /** Wait for the machine to boot and catch up, then promote it; remove the learner on timeout. */
  wait: boolean
  timeoutMs: number
  force: boolean
  warn: (message: string) => void
  /** The flow's etcd client, through EXISTING first (addMachineEndpoints); the caller closes it. */
  etcd: SharedEtcd
}

/** The etcd endpoints an addition talks through: EXISTING's first when it is a main machine, then the other mains. */
export function addMachineEndpoints(cluster: Cluster, existingName: string): string[] {
  const existing = machineNamed(cluster, existingName, 'EXISTING')
  return existing.role === 'main' ? [...new Set([etcdUrls(cluster, existing.ip).client, ...etcdEndpoints(cluster, existing.name)])] : etcdEndpoints(cluster)
}

/** What the steps found and did, for the command's output. */
export interface AddMachineResult {
  machine: Machine
  firstBootFile: string
  memberId?: string
  promoted: boolean
}

/** The next free `<role>-N` name. */
function nextName(cluster: Cluster, role: Role): string {
  for (let i = 1; ; i++) if (!cluster.machines.some((m) => m.name === `${role}-${i}`)) return `${role}-${i}`
}

/**
 * The steps of adding a machine: check etcd, add a learner (main machines), write the
 * machine's first-boot file joining the running cluster, record it in cluster.yaml, and
 * with `wait` promote it once it has caught up — or take the learner out again if it never
 * starts, leaving the cluster as it was. Re-running after a stop resumes: an existing
 * learner for the same address is reused.
 */
export async function addMachineSteps(request: AddMachineRequest): Promise<{steps: Step[]; machine: Machine; result: () => AddMachineResult}> {
  const {cluster} = request
  const existing = machineNamed(cluster, request.existing, 'EXISTING')
  const already = cluster.machines.find((m) => m.ip === request.ip)
  const machine: Machine = already ?? {name: request.name ?? nextName(cluster, request.role), ip: request.ip, role: request.role, labels: {}}
  // The grown cluster passes the same checks as cluster.yaml: unique name and IP, valid IP, ≤ 9 mains.
  const grown = already ? cluster : (await resolveCluster(toDocument(cluster, machine), cluster.file)).cluster
  const peerUrl = etcdUrls(cluster, machine.ip).peer
  const firstBootFile = path.resolve(request.outDir, firstBootFileName(machine, request.format))
  // Refused before etcd is changed: a learner added for a file that cannot be written would stay behind.
  const label = `--out ${request.outDir}`
  const out = await cannotWrite(label, () => inspectOutDir(request.outDir, label, [{label: '--state-dir', dir: request.stateDir ?? clusterStateDir(cluster)}]))
  requireAddable(out, [path.basename(firstBootFile), 'known_hosts'])
  const client = () => request.etcd.client()
  const main = machine.role === 'main'

  const plan = new Chain({})
    .step(`Check etcd's members and health through ${existing.name}`, async () => {
      const members = await (await client()).members()
      if (!main) return {note: `${members.length} members`, members}
      const verdict = checkAdd(members, peerUrl)
      if (!verdict.safe && (!verdict.overridable || !request.force)) {
        throw new UnsafeOperationError(`cannot add ${machine.name}: ${verdict.reason}${verdict.overridable ? '; pass --force to add it anyway' : ''}`)
      }
      if (!verdict.safe) request.warn(`adding ${machine.name} although ${verdict.reason}`)
      return {note: `${members.filter((m) => m.healthy).length} of ${members.length} healthy`, members}
    }, async () => {
      const members = await (await client()).members()
      const now = `now ${members.filter((m) => m.healthy).length} of ${members.length} healthy`
      return main ? `would go on only if etcd keeps its quorum with a learner at ${peerUrl} (through ${request.etcd.endpoints.join(', ')}): ${now}` : `would read the members through ${request.etcd.endpoints.join(', ')}: ${now}`
    })
    .stepWhen(main, `Add ${machine.name} (${peerUrl}) as an etcd learner`, async ({members}) => {
      const known = findMember(members, peerUrl) ?? members.find((m) => m.peerUrls.includes(peerUrl))
      if (known) return {note: known.isLearner ? 'already a learner: resuming' : 'already a voting member', memberId: known.id}
      const memberId = await (await client()).addLearner(peerUrl)
      return {note: `member ${memberId}`, memberId, members: await (await client()).members()}
    }, async () => {
      const known = (await (await client()).members()).find((m) => m.peerUrls.includes(peerUrl))
      return known ? `would reuse member ${known.id}, ${known.isLearner ? 'a learner' : 'a voting member'} at ${peerUrl} already` : `would add a learner with peer URL ${peerUrl}`
    })
    .step(`Write ${machine.name}'s first-boot file (${request.format}, joining the running cluster)`, async ({members}) => {
      await writeFirstBoot(grown, {format: request.format, outDir: request.outDir, stateDir: request.stateDir, only: {machines: [machine], join: joinOf(cluster, members, machine, peerUrl)}})
      return {note: firstBootFile}
    }, async () => {
      const join = joinOf(cluster, await (await client()).members(), machine, peerUrl)
      return `would write ${firstBootFile} (${machine.name} at ${machine.ip}, ${machine.role}; etcd state existing, initial cluster ${join.members.map((m) => `${m.name}=${m.peerUrl}`).join(',')}) and its host key into ${path.join(request.outDir, 'known_hosts')}`
    })
    .step(`Record ${machine.name} in ${path.basename(request.file)}`, async () => {
      await addMachineToFile(request.file, machine)
      return {}
    }, async () => `would add {name: ${machine.name}, ip: ${machine.ip}, role: ${machine.role}} to ${request.file}${already ? ' (it is there already: unchanged)' : ''}`)
    .stepWhen(main && request.wait, `Wait for ${machine.name} to start and catch up, then promote it to a voting member`, async ({memberId}) => {
      try {
        if (memberId === undefined) throw new BerthError('no learner was added')
        await (await client()).promote(memberId, request.timeoutMs)
        return {promoted: true}
      } catch (error) {
        if (memberId !== undefined) await (await client()).remove(memberId).catch(() => undefined)
        await removeMachineFromFile(request.file, machine.name)
        await removeFromOutDir(path.dirname(firstBootFile), [path.basename(firstBootFile)])
        throw new BerthError(`${machine.name} did not start and catch up within ${Math.round(request.timeoutMs / 1000)} s (${(error as Error).message}); its learner was removed and ${path.basename(request.file)} restored`)
      }
    }, async () => `would wait up to ${Math.round(request.timeoutMs / 1000)} s for ${machine.name} to catch up and promote it; if it does not, remove its learner, ${machine.name} from ${path.basename(request.file)} and ${path.basename(firstBootFile)}`)
    .step(`Record ${machine.name}'s addition in the audit trail`, async ({promoted}) => {
      const detail = {ip: machine.ip, role: machine.role, ...(main ? {member: promoted ? 'voter' : 'learner'} : {})}
      await appendAudit(await (await client()).auditLog(ETCD_PREFIX), {action: 'machine.add', target: machine.name, detail})
      return {}
    })
  const result = (): AddMachineResult => {
    const {memberId, promoted} = plan.result()
    return {machine, firstBootFile, ...(memberId === undefined ? {} : {memberId}), promoted: promoted ?? false}
  }
  return {steps: plan.steps, machine, result}
}

/** How the new machine's etcd joins: today's voters plus itself, state existing. */
function joinOf(cluster: Cluster, members: MemberStatus[], machine: Machine, peerUrl: string): EtcdJoin {
  const voters = members.filter((m) => !m.isLearner && !m.peerUrls.includes(peerUrl))
  return {
    state: 'existing',
    members: [...voters.map((m) => ({name: m.name, peerUrl: m.peerUrls[0]!})), ...(machine.role === 'main' ? [{name: machine.name, peerUrl}] : [])],
    endpoints: voters.flatMap((m) => m.clientUrls.length > 0 ? [m.clientUrls[0]!] : []),
  }
}

function toDocument(cluster: Cluster, machine: Machine): ClusterDocument {
  return {
    name: cluster.name,
    unitPrefix: cluster.unitPrefix,
    registry: cluster.registry,
    installer: cluster.installer,
    ssh: {user: cluster.ssh.user, authorizedKeys: cluster.ssh.authorizedKeys},
    etcd: cluster.etcd,
    machines: [...cluster.machines, machine],
    services: cluster.services,
  }
}
