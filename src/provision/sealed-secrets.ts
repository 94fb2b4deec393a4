import {readdir, readFile, rm} from 'node:fs/promises'
import path from 'node:path'

import type {KmsKey} from '../config/types.js'
import {BerthError, UsageError} from '../errors.js'
import {writeFileAtomic} from '../fsx.js'
import {openSecret, sealSecret, type KeyProvider} from '../secrets/envelope.js'

/**
 * Node secrets sealed with AWS KMS (`nodeSecrets: {mode: kms}`). The provisioner seals each
 * file with a data key from KMS, bound to the cluster, the machine and the file's name, and
 * upload-secrets puts the blobs in the machine's sealed folder with `kms.json` (the key's id
 * and endpoint, nothing secret). At boot the machine opens them with its instance role
 * (`berth node-secrets unseal`), so the provisioner needs KMS Encrypt and the machines only
 * Decrypt. The blob is the envelope of service secrets (src/secrets/envelope.ts).
 */

/** What a machine's sealed folder says about its KMS key. */
export interface KmsFile extends KmsKey {
  cluster: string
  machine: string
}

/** The name a node secret is sealed under: a blob moved to another machine or cluster does not open. */
export function sealedName(cluster: string, machine: string, file: string): string {
  return `node:${cluster}/${machine}/${file}`
}

/** Seals one machine's node secret files; returns each blob's file name (`NAME.kms`) and bytes. */
export async function sealForMachine(provider: KeyProvider, cluster: string, machine: string, files: readonly {name: string; data: Buffer}[]): Promise<{name: string; data: Buffer}[]> {
  return Promise.all(files.map(async (f) => ({name: `${f.name}.kms`, data: await sealSecret(sealedName(cluster, machine, f.name), f.data, provider)})))
}

/** Reads and checks `kms.json` of a sealed folder. */
export async function readKmsFile(sealedDir: string): Promise<KmsFile> {
  const file = path.join(sealedDir, 'kms.json')
  const text = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new UsageError([{file, message: `cannot read it (${error.code ?? error.message})`, fix: 'run `berth cluster upload-secrets` for this machine with nodeSecrets: {mode: kms}'}])
  })
  let parsed: Partial<KmsFile>
  try {
    parsed = JSON.parse(text) as Partial<KmsFile>
  } catch {
    throw new UsageError([{file, message: 'is not JSON', fix: 'run `berth cluster upload-secrets` for this machine again'}])
  }
  for (const key of ['keyId', 'cluster', 'machine'] as const) {
    if (typeof parsed[key] !== 'string' || parsed[key] === '') throw new UsageError([{file, path: key, message: 'is missing', fix: 'run `berth cluster upload-secrets` for this machine again'}])
  }
  return parsed as KmsFile
}

/**
 * Opens every `NAME.kms` of `sealedDir` into `toDir/.NAME.new` (0600), all or none: the
 * caller renames them into place. Returns the names.
 */
export async function unsealInto(sealedDir: string, toDir: string, provider: (kms: KmsFile) => KeyProvider): Promise<string[]> {
  const kms = await readKmsFile(sealedDir)
  const key = provider(kms)
  const names = (await readdir(sealedDir)).filter((n) => n.endsWith('.kms')).map((n) => n.slice(0, -'.kms'.length)).sort()
  if (names.length === 0) throw new BerthError(`${sealedDir} holds no KMS-sealed secret`)
  const staged: string[] = []
  try {
    for (const name of names) {
      const blob = await readFile(path.join(sealedDir, `${name}.kms`))
      const value = await openSecret(sealedName(kms.cluster, kms.machine, name), blob, key).catch((error: Error) => {
        throw new BerthError(`${path.join(sealedDir, `${name}.kms`)}: ${error.message}`, {cause: error})
      })
      const target = path.join(toDir, `.${name}.new`)
      staged.push(target)
      await writeFileAtomic(target, value, 0o600)
      value.fill(0)
    }
  } catch (error) {
    await Promise.all(staged.map((f) => rm(f, {force: true})))
    throw error
  }
  return names
}
