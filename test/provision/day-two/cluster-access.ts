import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {writeFile} from 'node:fs/promises'
import path from 'node:path'
import {setTimeout} from 'node:timers/promises'

import {ok, type DayTwoCluster, type DayTwoPart} from './context.js'


/** `service` and `secrets` on a real cluster with nothing but `--local-cluster NAME`. */
export const clusterAccess: DayTwoPart = {
  name: 'from cluster.yaml alone',
  checks: [
    {
      title: 'service ls, deploy and rm find an agent, its certificate and the token by themselves',
      async run(c: DayTwoCluster) {
        const target = ['--local-cluster', c.name]
        const listed = JSON.parse(ok(await c.berth(['service', 'ls', '--json', ...target]))) as {services: Array<{name: string; spec: {image: string}}>}
        const web = listed.services.find((s) => s.name === 'web')
        assert.ok(web, 'web is listed')
        const file = path.join(c.dir, 'daytwo.yaml')
        await writeFile(file, `services:\n  daytwo: {image: "${web.spec.image}", env: {GREETING: "${randomBytes(3).toString('hex')}"}}\n`)
        ok(await c.berth(['service', 'deploy', file, ...target]))
        for (const deadline = Date.now() + 60_000; ;) {
          const status = JSON.parse(ok(await c.berth(['cluster', 'status', '--json', ...target]))) as {machines: Array<{services: Record<string, string>}>}
          if (status.machines.every((m) => m.services.daytwo === 'active')) break
          assert.ok(Date.now() < deadline, `daytwo is not active on every machine: ${JSON.stringify(status.machines.map((m) => m.services))}`)
          await setTimeout(1000)
        }
        ok(await c.berth(['service', 'rm', 'daytwo', ...target]))
      },
    },
    {
      title: 'secrets set, list and rm seal with the cluster\'s master key into its etcd',
      async run(c: DayTwoCluster) {
        const target = ['--local-cluster', c.name]
        const name = `DAYTWO_${randomBytes(3).toString('hex').toUpperCase()}`
        const value = `canary-${randomBytes(12).toString('hex')}`
        const set = await c.berth(['secrets', 'set', name, ...target], {input: value})
        assert.ok(!(set.stdout + set.stderr).includes(value))
        ok(set)
        assert.ok((JSON.parse(ok(await c.berth(['secrets', 'list', '--json', ...target]))) as {secrets: string[]}).secrets.includes(name))
        const keys = ok(await c.sh('main-1', 'ETCDCTL_API=3 etcdctl get --prefix /berth/secrets/ --keys-only'))
        assert.match(keys, new RegExp(name))
        ok(await c.berth(['secrets', 'rm', name, ...target]))
        assert.ok(!(JSON.parse(ok(await c.berth(['secrets', 'list', '--json', ...target]))) as {secrets: string[]}).secrets.includes(name))
      },
    },
  ],
}
