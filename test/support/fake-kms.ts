import {createCipheriv, createDecipheriv, randomBytes, randomUUID} from 'node:crypto'
import {createServer, type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

/**
 * A stand-in for AWS KMS, which cannot run here, speaking its real wire protocol (AWS JSON
 * 1.1: `POST /`, `X-Amz-Target: TrentService.<Operation>`, base64 blobs, errors as HTTP 400
 * `{"__type", "message"}`), so tests exercise the real @aws-sdk/client-kms. Keys are
 * AES-256-GCM with the EncryptionContext bound as associated data, as KMS binds it.
 * Signatures are not checked.
 */

type Body = Record<string, unknown>

/** A scripted failure: the next request answers with this status and error type. */
export interface InjectedFailure {
  status: number
  type: string
}

const account = '111122223333'
const region = 'us-east-1'
const idBytes = 36 // a UUID in text, at the front of every blob as KMS puts its key reference there

class KmsFault extends Error {
  constructor(readonly type: string, message: string, readonly status = 400) {
    super(message)
  }
}

/** A running fake KMS: its endpoint URL, its keys, the operations it served, and failures to inject. */
export class FakeKms {
  readonly keys = new Map<string, Buffer>()
  readonly calls: {operation: string; body: Body}[] = []
  readonly failures: InjectedFailure[] = []
  #server: Server = createServer((req, res) => void this.#handle(req, res))

  /** The endpoint the SDK is pointed at, `http://127.0.0.1:<port>`. */
  get endpoint(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`
  }

  /** Starts a fake KMS on a free loopback port. */
  static async start(): Promise<FakeKms> {
    const kms = new FakeKms()
    await new Promise<void>((resolve) => kms.#server.listen(0, '127.0.0.1', resolve))
    return kms
  }

  /** Stops the server and drops its connections. */
  async stop(): Promise<void> {
    this.#server.closeAllConnections()
    await new Promise<void>((resolve) => this.#server.close(() => resolve()))
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const operation = String(req.headers['x-amz-target'] ?? '').replace(/^TrentService\./, '')
    try {
      const injected = this.failures.shift()
      if (injected) throw new KmsFault(injected.type, 'injected failure', injected.status)
      if (req.method !== 'POST' || req.url !== '/') throw new KmsFault('UnknownOperationException', `${req.method} ${req.url}`)
      let body: Body
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Body
      } catch {
        throw new KmsFault('SerializationException', 'body is not JSON')
      }
      this.calls.push({operation, body})
      reply(res, 200, this.#operate(operation, body))
    } catch (error) {
      const fault = error instanceof KmsFault ? error : new KmsFault('KMSInternalException', String(error), 500)
      reply(res, fault.status, {__type: fault.type, message: fault.message})
    }
  }

  #operate(operation: string, body: Body): Body {
    switch (operation) {
      case 'CreateKey': {
        const id = randomUUID()
        this.keys.set(id, randomBytes(32))
        return {KeyMetadata: {KeyId: id, Arn: arn(id), Enabled: true, KeyState: 'Enabled', KeyUsage: 'ENCRYPT_DECRYPT', KeySpec: 'SYMMETRIC_DEFAULT', CreationDate: Date.now() / 1000}}
      }
      case 'Encrypt':
        return this.#encrypt(String(body.KeyId), Buffer.from(String(body.Plaintext), 'base64'), body.EncryptionContext)
      case 'GenerateDataKey': {
        const plaintext = randomBytes(body.KeySpec === 'AES_128' ? 16 : Number(body.NumberOfBytes ?? 32))
        return {...this.#encrypt(String(body.KeyId), plaintext, body.EncryptionContext), Plaintext: plaintext.toString('base64')}
      }
      case 'Decrypt':
        return this.#decrypt(Buffer.from(String(body.CiphertextBlob), 'base64'), body.EncryptionContext, body.KeyId)
      default:
        throw new KmsFault('UnknownOperationException', `unsupported operation ${operation}`)
    }
  }

  #encrypt(keyRef: string, plaintext: Buffer, context: unknown): Body {
    const id = this.#keyId(keyRef)
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(id) as Buffer, iv).setAAD(contextBytes(context))
    const data = Buffer.concat([cipher.update(plaintext), cipher.final()])
    const blob = Buffer.concat([Buffer.from(id, 'utf8'), iv, cipher.getAuthTag(), data])
    return {CiphertextBlob: blob.toString('base64'), KeyId: arn(id), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT'}
  }

  #decrypt(blob: Buffer, context: unknown, keyRef: unknown): Body {
    const id = blob.subarray(0, idBytes).toString('utf8')
    const key = this.keys.get(id)
    if (blob.length < idBytes + 28 || !key) throw new KmsFault('InvalidCiphertextException', 'The ciphertext is invalid')
    if (keyRef !== undefined && this.#keyId(String(keyRef)) !== id) throw new KmsFault('IncorrectKeyException', 'The key ID in the request does not identify the key that encrypted the ciphertext')
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(idBytes, idBytes + 12)).setAAD(contextBytes(context))
      decipher.setAuthTag(blob.subarray(idBytes + 12, idBytes + 28))
      const plaintext = Buffer.concat([decipher.update(blob.subarray(idBytes + 28)), decipher.final()])
      return {Plaintext: plaintext.toString('base64'), KeyId: arn(id), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT'}
    } catch {
      throw new KmsFault('InvalidCiphertextException', 'The ciphertext or its encryption context is invalid')
    }
  }

  /** Resolves a key id or ARN, as KMS accepts either. */
  #keyId(ref: string): string {
    const id = ref.startsWith('arn:') ? (ref.split('/').pop() ?? '') : ref
    if (!this.keys.has(id)) throw new KmsFault('NotFoundException', `Key '${arn(id)}' does not exist`)
    return id
  }
}

function arn(id: string): string {
  return `arn:aws:kms:${region}:${account}:key/${id}`
}

// KMS treats the context as an unordered map, so it is bound in sorted order.
function contextBytes(context: unknown): Buffer {
  const entries = Object.entries((context ?? {}) as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return Buffer.from(JSON.stringify(entries), 'utf8')
}

function reply(res: ServerResponse, status: number, body: Body): void {
  res.writeHead(status, {'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID()})
  res.end(JSON.stringify(body))
}
