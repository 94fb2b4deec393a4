import {readFile} from 'node:fs/promises'
import * as Flags from '@oclif/core/flags'

import {UsageError} from '../../errors.js'
import {readToken} from '../options.js'
import {ApiClient} from './client.js'

/** The flags of every command that calls an agent's admin API. */
export const apiFlags = {
  url: Flags.string({description: 'Admin API of an agent, like https://10.0.0.11:8443.', env: 'BERTH_API_URL', required: true}),
  'token-file': Flags.string({description: 'File (mode 0600) holding the admin token.', env: 'BERTH_API_TOKEN_FILE', required: true}),
  ca: Flags.string({description: "PEM certificate to trust: the agent's own, when it is self-signed.", env: 'BERTH_API_CA'}),
  'insecure-skip-verify': Flags.boolean({description: "Do not check the agent's certificate (anyone on the path could read the token).", exclusive: ['ca']}),
}

/** Builds a client from the API flags, warning on stderr when certificate checks are off. */
export async function apiClient(flags: {url: string; 'token-file': string; ca?: string; 'insecure-skip-verify'?: boolean}): Promise<ApiClient> {
  let url: URL
  try {
    url = new URL(flags.url)
  } catch {
    throw new UsageError([{path: '--url', message: `${JSON.stringify(flags.url)} is not a URL`, fix: 'write https://HOST:8443'}])
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new UsageError([{path: '--url', message: `${url.protocol} is not http: or https:`}])
  const ca = flags.ca === undefined ? undefined : await readFile(flags.ca).catch((error: NodeJS.ErrnoException) => {
    throw new UsageError([{file: flags.ca, message: `cannot read the CA certificate (${error.code ?? error.message})`}])
  })
  if (flags['insecure-skip-verify']) process.stderr.write(`berth: warning: --insecure-skip-verify: the certificate of ${url.host} is not checked; anyone on the path can read the token\n`)
  const token = await readToken(flags['token-file'])
  return new ApiClient({url: url.origin, token, ca, insecureSkipVerify: flags['insecure-skip-verify']})
}
