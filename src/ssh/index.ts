/** berth's SSH adapter: host-key-verified connections over ssh2, commands, atomic uploads. */
export {connect, SshConnection, type ConnectOptions, type ExecResult} from './connection.js'
export {HostKeyMismatchError, SshAuthenticationError} from './errors.js'
export {
  blobType,
  fingerprint,
  hostKeysFor,
  hostPattern,
  knownHostsLine,
  parseKnownHosts,
  parsePublicKey,
  type KnownHost,
  type PublicKey,
} from './known-hosts.js'
export {tempPrefix, type UploadOptions} from './upload.js'
export {generateEd25519, type KeyPair} from './keygen.js'
