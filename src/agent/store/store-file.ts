import {createHash} from 'node:crypto'
import {watch as watchDir} from 'node:fs'
import {mkdir, readFile} from 'node:fs/promises'
import path from 'node:path'
import type {Document} from 'yaml'

import {auditEntry, type AuditChange, type AuditEntry, type AuditOrigin, type AuditQuery, type AuditRetention} from '../../audit/entry.js'
import {FileAuditLog, auditFileOf} from '../../audit/file.js'
import {UsageError} from '../../errors.js'
import {withFileLock, writeFileAtomic} from '../../fsx.js'
import {specHash} from '../../hash.js'
import {validateSecretName} from './secret-name.js'
import {validateServiceName, validateStoredServices, type ServiceSpec} from '../../spec/service.js'
import type {DesiredStore} from './store.js'

/** How long the file must stay quiet before a watcher reports it: editors write in bursts. */
const debounceMs = 50

/**
 * Desired state in one YAML file, the embedded default for a host with no server:
 * `services:` maps names to specs, `secrets:` maps names to base64 sealed blobs. Writes
 * replace the file atomically and keep an operator's comments; writes are queued within this
 * process and take turns with other processes through a lock file, so none is lost. The
 * audit trail is a JSONL file beside it (src/audit/file.ts), appended under the same lock
 * right after the change it records is written.
 */
export class FileStore implements DesiredStore {
  #queue: Promise<unknown> = Promise.resolve()
  readonly #audit: FileAuditLog

  constructor(readonly file: string, options: {auditRetention?: AuditRetention} = {}) {
    this.#audit = new FileAuditLog(auditFileOf(file), options.auditRetention)
  }

  /** Every service in the file by name, validated; every problem in the file fails the read at once. */
  async services(): Promise<Map<string, ServiceSpec>> {
    const section = this.#section(await this.#read(), 'services')
    return validateStoredServices(Object.entries(section).map(([name, value]) => ({name, where: {file: this.file, path: `services/${name}`}, read: () => value})))
  }

  /** Sets `services.<name>` to the spec. */
  async putService(name: string, spec: ServiceSpec, origin?: AuditOrigin): Promise<void> {
    validateServiceName(name)
    await this.#update((doc) => {
      const before = serviceHash(doc, name)
      doc.setIn(['services', name], doc.createNode(spec))
      return {action: 'service.put', target: name, before, after: specHash(spec)}
    }, origin)
  }

  /** Removes `services.<name>`; false when it was not there. */
  async deleteService(name: string, origin?: AuditOrigin): Promise<boolean> {
    return this.#update((doc) => {
      const before = serviceHash(doc, name)
      return doc.hasIn(['services', name]) && doc.deleteIn(['services', name]) && {action: 'service.delete', target: name, before, after: null}
    }, origin)
  }

  /** Names under `secrets:`. */
  async secretNames(): Promise<string[]> {
    return Object.keys(this.#section(await this.#read(), 'secrets')).sort()
  }

  /** The sealed blob under `secrets.<name>`, decoded from base64, or undefined. */
  async sealedSecret(name: string): Promise<Buffer | undefined> {
    const value = this.#section(await this.#read(), 'secrets')[name]
    return typeof value === 'string' ? Buffer.from(value, 'base64') : undefined
  }

  /** Sets `secrets.<name>` to the blob in base64. */
  async putSealedSecret(name: string, blob: Buffer, origin?: AuditOrigin): Promise<void> {
    validateSecretName(name)
    await this.#update((doc) => {
      doc.setIn(['secrets', name], blob.toString('base64'))
      return {action: 'secret.set', target: name}
    }, origin)
  }

  /** Removes `secrets.<name>`; false when it was not there. */
  async deleteSecret(name: string, origin?: AuditOrigin): Promise<boolean> {
    return this.#update((doc) => doc.hasIn(['secrets', name]) && doc.deleteIn(['secrets', name]) && {action: 'secret.delete', target: name}, origin)
  }

  /** Appends an entry for a change made elsewhere, under the store's lock. */
  async appendAudit(entry: AuditEntry): Promise<void> {
    await this.#queued(() => withFileLock(this.file, () => this.#audit.appendLocked(entry)))
  }

  /** The audit trail, oldest first. */
  async auditEntries(query?: AuditQuery): Promise<AuditEntry[]> {
    return this.#audit.entries(query)
  }

  /**
   * Watches the file's directory, not the file: an editor or writeFileAtomic replaces the
   * file by rename, which a watch on the old inode would never see. Bursts are debounced and
   * a change is reported only when the content differs from what was last reported.
   */
  async watch(onChange: () => void): Promise<() => Promise<void>> {
    const dir = path.dirname(this.file)
    const base = path.basename(this.file)
    await mkdir(dir, {recursive: true})
    let seen = await this.#digest()
    let timer: NodeJS.Timeout | undefined
    const check = async (): Promise<void> => {
      const now = await this.#digest()
      if (now === seen) return
      seen = now
      onChange()
    }
    const watcher = watchDir(dir, (_event, name) => {
      // Some platforms omit the name; then any event in the directory counts.
      if (name !== null && name !== base) return
      clearTimeout(timer)
      timer = setTimeout(() => void check().catch(() => undefined), debounceMs)
    })
    watcher.on('error', () => undefined)
    return async () => {
      clearTimeout(timer)
      watcher.close()
    }
  }

  /** Nothing to release: every call opens and closes the file itself. */
  async close(): Promise<void> {
    await this.#queue.catch(() => undefined)
  }

  async #digest(): Promise<string> {
    const bytes = await readFile(this.file).catch(() => Buffer.alloc(0))
    return createHash('sha256').update(bytes).digest('hex')
  }

  async #read(): Promise<Document> {
    const {parseDocument} = await import('yaml')
    const text = await readFile(this.file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return ''
      throw error
    })
    const doc = parseDocument(text)
    if (doc.errors.length > 0) {
      throw new UsageError(doc.errors.map((e) => ({file: this.file, message: e.message.split('\n')[0] ?? e.message, fix: 'fix the YAML syntax'})))
    }
    const root: unknown = doc.toJS()
    if (root !== null && root !== undefined && (typeof root !== 'object' || Array.isArray(root))) {
      throw new UsageError([{file: this.file, message: 'must be a mapping with services: and secrets:'}])
    }
    return doc
  }

  #section(doc: Document, key: 'services' | 'secrets'): Record<string, unknown> {
    const value: unknown = doc.toJS()?.[key]
    if (value === undefined || value === null) return {}
    if (typeof value !== 'object' || Array.isArray(value)) throw new UsageError([{file: this.file, path: key, message: 'must be a mapping of names'}])
    return value as Record<string, unknown>
  }

  /**
   * Read-modify-write under the file's lock, written atomically with mode 0600 (it holds
   * sealed secrets); `change` returns what it did, or false for nothing. With an origin the
   * audit entry follows under the same lock: a crash between the two leaves the change
   * without its entry, never an entry for a change that was not made.
   */
  #update(change: (doc: Document) => AuditChange | false, origin?: AuditOrigin): Promise<boolean> {
    return this.#queued(() => withFileLock(this.file, async () => {
      const doc = await this.#read()
      const done = change(doc)
      if (done === false) return false
      await writeFileAtomic(this.file, doc.toString(), 0o600)
      if (origin) await this.#audit.appendLocked(auditEntry(done, origin))
      return true
    }))
  }

  /** Runs `work` after every write this process queued before it. */
  #queued<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work, work)
    this.#queue = next.catch(() => undefined)
    return next
  }
}

/** The spec hash of `services.<name>` in the document, or null when there is none. */
function serviceHash(doc: Document, name: string): string | null {
  return doc.hasIn(['services', name]) ? specHash((doc.toJS() as {services: Record<string, unknown>}).services[name]) : null
}
