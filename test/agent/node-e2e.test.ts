/**
 * berth-agent on a real node: a one-node local cluster, the agent image run there as a
 * container driving the node's systemd and dockerd, desired state in the node's etcd, and
 * the admin API over HTTPS on the node's address. Everything is checked from outside, on
 * the node, with systemctl, docker, ps, journalctl and grep over SSH.
 */
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import {AGENT, check, startAgentNode, waitUntil, WEB_IMAGE, type AgentNode} from './node-support.js'

const canary = `canary-${Math.random().toString(36).slice(2, 12)}`
let node: AgentNode

/** How many times systemd has reloaded its units since the node booted. */
async function reloads(): Promise<string> {
  return (await check(node.sh(`journalctl _PID=1 -o cat | grep -c '^Reloading' || true`))).trim()
}

/** Running berth containers on the node: name → [id, spec hash]. */
async function containers(): Promise<Map<string, [string, string]>> {
  const out = await check(node.sh(`docker ps -a --no-trunc --filter label=berth.managed=true --format '{{.Names}} {{.ID}} {{.Label "berth.spec-hash"}} {{.State}}'`))
  return new Map(out.trim().split('\n').filter(Boolean).map((line) => {
    const [name, id, hash, state] = line.split(' ')
    return [name!, [id!, `${hash} ${state}`]] as const
  }))
}

async function containerEnv(name: string): Promise<string> {
  return check(node.sh(`docker exec ${name} /bin/busybox env`))
}

async function active(unit: string): Promise<string> {
  return (await node.sh(`systemctl is-active ${unit}`)).stdout.trim()
}

const web = (mode: string) => ({image: WEB_IMAGE, command: ['httpd', '-f', '-p', '8080'], env: {MODE: mode, CONFIG: {replicas: 1}}, secrets: ['DB_PASSWORD'], stopTimeout: 5})

describe('berth-agent on a local-cluster node', {timeout: 20 * 60_000}, () => {
  before(async () => {
    node = await startAgentNode('agent-e2e')
  })
  after(async () => {
    await node?.destroy()
  })

  it('refuses requests without the token or with a wrong one, and answers CORS for allowed origins only', async () => {
    assert.equal((await node.api('GET', '/v1/services', undefined, null)).status, 401)
    assert.equal((await node.api('GET', '/v1/services', undefined, 'wrong-token-0123456789abcdef')).status, 401)
    assert.equal((await node.api('GET', '/v1/services')).status, 200)
    const preflight = {origin: 'https://admin.example.test', 'access-control-request-method': 'PUT'}
    const allowed = await node.api('OPTIONS', '/v1/services/web', undefined, null, preflight)
    assert.deepEqual([allowed.status, allowed.headers['access-control-allow-origin']], [204, 'https://admin.example.test'])
    const denied = await node.api('OPTIONS', '/v1/services/web', undefined, null, {...preflight, origin: 'https://evil.example.test'})
    assert.equal(denied.status, 403)
    assert.equal(denied.headers['access-control-allow-origin'], undefined)
  })

  it('runs a service put through the API under systemd, with its secret in the container only', async () => {
    await check(node.sh(`docker exec -i ${AGENT} berth secrets set DB_PASSWORD --options /etc/berth/agent.json`, canary))
    const reloadsBefore = await reloads()
    const put = await node.api('PUT', '/v1/services/web', web('blue'))
    assert.equal(put.status, 200, JSON.stringify(put.body))
    await waitUntil(async () => (await active('berth-web')) === 'active' && (await containers()).get('berth-web')?.[1].endsWith('running') === true, 30_000, 'berth-web runs')
    assert.equal(await reloads(), reloadsBefore, 'systemd loads a new unit when it is started, without a daemon-reload')
    const env = await containerEnv('berth-web')
    assert.match(env, new RegExp(`^DB_PASSWORD=${canary}$`, 'm'))
    assert.match(env, /^MODE=blue$/m)
    assert.match(env, /^CONFIG=\{"replicas":1\}$/m)
    const got = await node.api('GET', '/v1/services/web')
    assert.equal(got.body.observed.activeState, 'active')
    assert.equal(got.body.observed.containerId, (await containers()).get('berth-web')?.[0])

    // The secret's only clear copy on disk is the 0600 env file on the tmpfs.
    assert.equal((await check(node.sh('stat -c %a /run/berth /run/berth/berth-web.env'))).trim(), '700\n600')
    assert.ok((await check(node.sh('cat /run/berth/berth-web.env'))).includes(canary))
    const places = {
      'unit files': 'cat /etc/systemd/system/berth-* /etc/systemd/system/*/* 2>/dev/null; true',
      'files under /etc/berth and /var/lib/berth': 'grep -r . /etc/berth /var/lib/berth 2>/dev/null; true',
      'the process list': 'ps auxww',
      'the journal': 'journalctl --no-pager -o cat',
      "the agent's log": `docker logs ${AGENT} 2>&1`,
      'etcd': 'ETCDCTL_API=3 etcdctl get --prefix /berth',
      "the container's command line": `docker inspect --format '{{json .Config.Cmd}} {{json .Args}} {{json .Path}}' berth-web`,
    }
    for (const [where, command] of Object.entries(places)) {
      const out = await check(node.sh(command))
      assert.ok(out.length > 0 || where === 'unit files', `${where}: nothing read`)
      assert.ok(!out.includes(canary), `the secret appears in ${where}`)
    }
    assert.ok(!(await node.api('GET', '/v1/status')).body.lastPass || !JSON.stringify((await node.api('GET', '/v1/status')).body).includes(canary))

    // dockerd keeps the container's environment in config.v2.json: on the first-boot tmpfs,
    // and nowhere else under /var/lib/docker.
    assert.equal((await check(node.sh('findmnt -n -o FSTYPE /var/lib/docker/containers'))).trim(), 'tmpfs')
    assert.match(await check(node.sh(`grep -rlF -e '${canary}' /var/lib/docker/containers; true`)), /config\.v2\.json/)
    assert.equal(await check(node.sh(`grep -rlF -e '${canary}' /var/lib/docker --exclude-dir=containers; true`)), '', 'the secret rests on disk under /var/lib/docker')
  })

  it('restarts a service whose env changed with its new spec, without rewriting its unit or reloading systemd', async () => {
    const before = (await containers()).get('berth-web')!
    // The unit file by inode and content (a rewrite is a rename), and systemd's reloads so far.
    const unitFile = `stat -c %i /etc/systemd/system/berth-web.service && sha256sum < /etc/systemd/system/berth-web.service`
    const agentLog = `docker logs ${AGENT} 2>&1`
    const [unitBefore, reloadsBefore, logLines] = [await check(node.sh(unitFile)), await reloads(), (await check(node.sh(agentLog))).split('\n').length]
    assert.equal((await node.api('PUT', '/v1/services/web', web('green'))).status, 200)
    await waitUntil(async () => (await containerEnv('berth-web').catch(() => '')).includes('MODE=green'), 30_000, 'berth-web runs with MODE=green')
    const now = (await containers()).get('berth-web')!
    assert.notEqual(now[0], before[0])
    assert.notEqual(now[1], before[1])
    assert.equal(await active('berth-web'), 'active')
    assert.equal([...(await containers()).keys()].filter((n) => n === 'berth-web').length, 1)
    assert.equal(await check(node.sh(unitFile)), unitBefore, 'the unit file was rewritten')
    assert.equal(await reloads(), reloadsBefore, 'systemd was reloaded')
    const passes = (await check(node.sh(agentLog))).split('\n').slice(logLines - 1).join('\n')
    assert.match(passes, /restart berth-web\.service/, "the agent's log shows the restart")
    assert.doesNotMatch(passes, /writeUnit berth-web|daemon-reload/)
    // The running container carries the hash of the label file written for this spec.
    assert.equal((await check(node.sh('stat -c %a /run/berth/berth-web.labels'))).trim(), '600')
    const label = (await check(node.sh('cat /run/berth/berth-web.labels'))).trim()
    assert.equal(`berth.spec-hash=${now[1].split(' ')[0]}`, label)
  })

  it('lets no field of a spec add a directive to the unit', async () => {
    const bad: Record<string, object> = {
      image: {image: `${WEB_IMAGE}\nExecStartPost=/bin/touch /tmp/pwned`},
      command: {image: WEB_IMAGE, command: ['httpd', '-f\nExecStartPost=/bin/touch /tmp/pwned']},
      env: {image: WEB_IMAGE, env: {X: 'a\nExecStartPost=/bin/touch /tmp/pwned'}},
      label: {image: WEB_IMAGE, labels: {team: 'x\n[Service]\nUser=root'}},
      volume: {image: WEB_IMAGE, volumes: ['data:/../../etc']},
      mount: {image: WEB_IMAGE, mounts: [{source: '/srv/../etc', target: '/data'}]},
      user: {image: WEB_IMAGE, user: '0\nExecStartPost=/bin/id'},
      memory: {image: WEB_IMAGE, memory: '1g\nLimitNOFILE=1'},
      port: {image: WEB_IMAGE, ports: ['8080:80\nExecStartPost=/bin/id']},
      unknownField: {image: WEB_IMAGE, execStartPost: '/bin/id'},
    }
    for (const [field, spec] of Object.entries(bad)) {
      const answer = await node.api('PUT', '/v1/services/inj', spec)
      assert.equal(answer.status, 400, `${field}: ${JSON.stringify(answer.body)}`)
    }
    assert.equal((await node.api('PUT', '/v1/services/..%2Fagent', {image: WEB_IMAGE})).status, 400)
    assert.equal((await node.api('GET', '/v1/services/inj')).status, 404)

    // What may pass (quotes, %, $, ;, backslashes) reaches the container word for word.
    const words = ['sh', '-c', 'exec sleep 3600', '%h $HOME "q" \'s\' ; touch /tmp/pwned \\ %%n ${USER}']
    assert.equal((await node.api('PUT', '/v1/services/inj', {image: WEB_IMAGE, command: words, labels: {note: '%n $X "y"'}})).status, 200)
    await waitUntil(async () => (await active('berth-inj')) === 'active' && (await containers()).get('berth-inj')?.[1].endsWith('running') === true, 30_000, 'berth-inj runs')
    const cmd = JSON.parse(await check(node.sh(`docker inspect --format '{{json .Config.Cmd}}' berth-inj`))) as string[]
    assert.deepEqual(cmd, words)
    const label = await check(node.sh(`docker inspect --format '{{index .Config.Labels "note"}}' berth-inj`))
    assert.equal(label.trim(), '%n $X "y"')
    const unit = await check(node.sh('cat /etc/systemd/system/berth-inj.service'))
    const keys = unit.split('\n').filter((l) => /^[A-Za-z]+=/.test(l)).map((l) => l.split('=')[0]).sort()
    assert.deepEqual(keys, ['After', 'Description', 'ExecStart', 'ExecStartPre', 'ExecStop', 'Requires', 'Restart', 'RestartSec', 'SuccessExitStatus', 'TimeoutStartSec', 'TimeoutStopSec', 'Type'])
    assert.equal((await node.sh('test -e /tmp/pwned')).exitCode, 1)
    assert.equal((await node.api('DELETE', '/v1/services/inj')).status, 200)
  })

  it('removes a deleted service: unit and container gone', async () => {
    assert.equal((await node.api('DELETE', '/v1/services/web')).status, 200)
    await waitUntil(async () => !(await containers()).has('berth-web') && !(await containers()).has('berth-inj'), 30_000, 'the containers are gone')
    assert.equal((await node.sh('ls /etc/systemd/system/berth-web.service /etc/systemd/system/berth-inj.service')).exitCode, 2)
    assert.notEqual(await active('berth-web'), 'active')
    assert.equal((await node.sh('test -e /run/berth/berth-web.env')).exitCode, 1, 'the env file went with the unit')
    assert.equal((await node.api('GET', '/v1/services/web')).status, 404)
  })

  it('converges after SIGKILL mid-pass, leaving no orphan container', async () => {
    // A watcher on the node (started first, detached) kills the agent the moment the last
    // unit file of a burst of changes is written, and notes what was running then.
    const kill = `for i in $(seq 6000); do [ -e /etc/systemd/system/berth-k4.service ] && break; sleep 0.005; done; docker kill -s KILL ${AGENT} >/dev/null; docker ps --filter label=berth.managed=true --format '{{.Names}}' > /tmp/at-kill; touch /tmp/killed`
    await check(node.sh(`rm -f /tmp/killed; setsid sh -c '${kill.replaceAll("'", "'\\''")}' >/dev/null 2>&1 < /dev/null &`))
    for (const k of ['k1', 'k2', 'k3', 'k4']) assert.equal((await node.api('PUT', `/v1/services/${k}`, {image: WEB_IMAGE, command: ['httpd', '-f', '-p', '8080'], stopTimeout: 2})).status, 200)
    await waitUntil(async () => (await node.sh('test -e /tmp/killed')).exitCode === 0, 30_000, 'the agent is killed')
    const runningAtKill = (await check(node.sh('cat /tmp/at-kill'))).trim().split('\n').filter(Boolean)
    assert.ok(runningAtKill.length < 4, `the kill came after the pass: ${runningAtKill.join(' ')}`)
    assert.equal((await check(node.sh(`docker inspect --format '{{.State.Status}}' ${AGENT}`))).trim(), 'exited')

    // While the agent is down: k1 is deleted from etcd and its unit file removed, so its
    // running container belongs to nothing: an orphan the next pass must remove.
    await check(node.sh('ETCDCTL_API=3 etcdctl del /berth/services/k1 && rm -f /etc/systemd/system/berth-k1.service && systemctl daemon-reload'))
    assert.match((await containers()).get('berth-k1')?.[1] ?? '', /running$/, 'k1 runs with no unit file and no desired spec: an orphan')
    await check(node.sh(`docker start ${AGENT}`))
    await waitUntil(async () => {
      const c = await containers()
      return ['berth-k2', 'berth-k3', 'berth-k4'].every((n) => c.get(n)?.[1].endsWith('running')) && !c.has('berth-k1')
    }, 60_000, 'k2-k4 run and k1 is gone')
    assert.deepEqual([...(await containers()).keys()].sort(), ['berth-k2', 'berth-k3', 'berth-k4'])
    for (const k of ['k2', 'k3', 'k4']) assert.equal(await active(`berth-${k}`), 'active')
    // A pass reports every service it acted on, so the pass that removed k1's orphan lists
    // k1 (ok, removeContainer) next to k2-k4, and it may be converged already: that report
    // is right (it tells what the pass did), and waiting for "converged" alone could catch it
    // or the quiet pass after it, depending on the machine's speed. What this test checks is
    // the steady state, so it asks for a pass and waits for one that found nothing to do.
    assert.match(await check(node.sh(`docker logs ${AGENT} 2>&1`)), /(removeContainer|stop) berth-k1\b/, "the agent's log names k1, whose orphan it removed")
    const before = (await node.api('GET', '/v1/status')).body.passes as number
    assert.equal((await node.api('POST', '/v1/sync')).status, 202)
    let status = (await node.api('GET', '/v1/status')).body
    await waitUntil(async () => {
      status = (await node.api('GET', '/v1/status')).body
      return status.passes > before && status.lastPass?.converged === true && status.lastPass.actions.length === 0
    }, 30_000, 'a converged pass finds nothing to do')
    assert.deepEqual(Object.keys(status.lastPass.outcomes).sort(), ['k2', 'k3', 'k4'])
    for (const k of ['k2', 'k3', 'k4']) assert.deepEqual(status.lastPass.outcomes[k], {ok: true, actions: []})
  })
})
