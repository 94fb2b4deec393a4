import assert from 'node:assert/strict'
import {readFile} from 'node:fs/promises'
import {request} from 'node:https'
import path from 'node:path'
import {setTimeout} from 'node:timers/promises'

import {secretsDir} from '../../../src/provision/node-secrets.js'
import {resolveTarget} from '../../../src/provision/target.js'
import {ok, type DayTwoCluster, type DayTwoPart, webImage} from './context.js'

/** How a quartermaster client reaches an agent: its URL, the admin token, the agent's certificate. */
interface Agent {
  url: string
  token: string
  ca: Buffer
}

/** One request as quartermaster's clients send it: JSON body, no Authorization header. */
function call(agent: Agent, method: 'GET' | 'POST', route: string, body?: unknown): Promise<{status: number; json: {success?: boolean; id?: string; status?: string; error?: string}}> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
  return new Promise((resolve, reject) => {
    const req = request(new URL(route, agent.url), {method, ca: agent.ca, timeout: 30_000, headers: payload ? {'content-type': 'application/json', 'content-length': payload.length} : {}}, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        try {
          resolve({status: res.statusCode ?? 0, json: JSON.parse(text)})
        } catch {
          reject(new Error(`${method} ${route}: ${res.statusCode} ${text}`))
        }
      })
    })
    req.on('timeout', () => req.destroy(new Error(`${method} ${route}: no answer in 30 s`)))
    req.on('error', reject)
    req.end(payload)
  })
}

/** main-1's admin API, from the local cluster's state dir as `service` commands find it. */
async function mainAgent(c: DayTwoCluster): Promise<Agent> {
  const target = await resolveTarget({config: 'cluster.yaml', 'local-cluster': c.name, 'state-dir': c.env.BERTH_STATE_DIR})
  const secrets = secretsDir(target.stateDir)
  const machine = target.cluster.machines.find((m) => m.name === 'main-1')!
  return {
    url: `https://${machine.ip}:8443`,
    token: (await readFile(path.join(secrets, 'api-token'), 'utf8')).trim(),
    ca: await readFile(path.join(secrets, 'machines', machine.name, 'api.crt')),
  }
}

/**
 * quartermaster's API on the provision suite's cluster: a worker joins (the cluster has main
 * machines only, and runs go to workers), the example web image runs through `POST /run` on
 * main-1's agent, `GET /status/:id` says started, `service ps` shows it on the worker, and
 * `POST /stop` removes it from the worker; the worker leaves again.
 */
export const quartermasterPart: DayTwoPart = {
  name: 'quartermaster',
  checks: [
    {
      title: 'POST /run places the web image on a worker; /status says started; /stop removes it',
      async run(c: DayTwoCluster) {
        const target = ['--local-cluster', c.name]
        const image = await webImage(c)
        const added = JSON.parse(ok(await c.berth(['local-cluster', 'add-machine', '--role', 'worker', '--name', c.name, '--json']))) as {name: string}
        const worker = added.name
        let id: string | undefined
        const agent = await mainAgent(c)
        try {
          // As the upgrade suite does: secrets up, then the installer run by upgrade-machine.
          ok(await c.berth(['cluster', 'upload-secrets', worker, ...target]))
          ok(await c.berth(['local-cluster', 'upgrade-machine', worker, '--name', c.name]))

          const run = await call(agent, 'POST', '/run', {token: agent.token, image, name: 'day two', labels: {purpose: 'day-two'}, memory: 64})
          assert.equal(run.status, 200, JSON.stringify(run.json))
          assert.equal(run.json.success, true)
          id = run.json.id!
          const started = Date.now()
          for (let last = ''; ;) {
            const status = await call(agent, 'GET', `/status/${id}?token=${encodeURIComponent(agent.token)}`)
            assert.equal(status.status, 200, JSON.stringify(status.json))
            last = status.json.status ?? ''
            if (last === 'started') break
            assert.ok(Date.now() - started < 120_000, `${id} is not started after 120 s: ${last}`)
            await setTimeout(1000)
          }
          console.log(`# quartermaster: POST /run -> started in ${Date.now() - started} ms`)
          const {replicas} = JSON.parse(ok(await c.berth(['service', 'ps', id, '--json', ...target]))) as {replicas: Array<{machine?: string; observed: string}>}
          assert.deepEqual(replicas.map((r) => [r.machine, r.observed]), [[worker, 'active']])
          assert.match(ok(await c.sh(worker, 'docker ps --format "{{.Names}}"')), new RegExp(`${id}\\.1`))

          const stop = await call(agent, 'POST', '/stop', {token: agent.token, id})
          assert.deepEqual([stop.status, stop.json], [200, {success: true, id}])
          const stopped = id
          id = undefined
          for (const deadline = Date.now() + 60_000; ;) {
            if (!ok(await c.sh(worker, 'docker ps --format "{{.Names}}"')).includes(stopped)) break
            assert.ok(Date.now() < deadline, `${stopped} still runs on ${worker} 60 s after /stop`)
            await setTimeout(1000)
          }
          const gone = await call(agent, 'GET', `/status/${stopped}?token=${encodeURIComponent(agent.token)}`)
          assert.deepEqual([gone.status, gone.json.success], [404, false])
        } finally {
          if (id) await call(agent, 'POST', '/stop', {token: agent.token, id}).catch(() => undefined)
          ok(await c.berth(['local-cluster', 'remove-machine', worker, '--name', c.name]))
        }
      },
    },
  ],
}
