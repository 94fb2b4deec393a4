/**
 * `stopTimeout: infinity` on the host's real dockerd (20.10, the nodes' version): the
 * container runs with the exact `docker run` words its unit gets, and is stopped with the
 * unit's own ExecStop line. It takes longer than the old default of 10 s to exit on SIGTERM
 * and must exit by itself (its own exit code), not be killed (137).
 */
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import path from 'node:path'
import {after, describe, it} from 'node:test'
import {execa} from 'execa'

import type {ServiceSpec} from '../../src/spec/service.js'
import {dockerRunArgs, renderUnit} from '../../src/agent/plan/unit.js'
import {envFilePath, labelFilePath, renderLabelFile} from '../../src/agent/plan/docker-run.js'
import {WEB_IMAGE, webImage} from './node-support.js'

const prefix = `stop${randomBytes(3).toString('hex')}-`
let envFileDir: string | undefined

describe('stopTimeout infinity against the real dockerd', {timeout: 120_000}, () => {
  after(async () => {
    await execa('docker', ['rm', '-f', `${prefix}slow`], {reject: false})
    if (envFileDir) await rm(envFileDir, {recursive: true, force: true})
  })

  it('waits for a container that takes 14 s to exit on SIGTERM, and never kills it', async () => {
    await webImage()
    // On SIGTERM the shell finishes its current sleep, then takes 14 s more and exits 7.
    const script = 'trap "sleep 14; exit 7" TERM; echo ready; while :; do sleep 1; done'
    const spec: ServiceSpec = {image: WEB_IMAGE, command: ['sh', '-c', script], stopTimeout: 'infinity', restart: 'always', roles: ['main']}
    // The files apply writes before a start: the label file, and an empty env file (no env).
    envFileDir = await mkdtemp(path.join(tmpdir(), 'berth-stop-'))
    const files = {envFileDir}
    const unit = renderUnit(prefix, 'slow', spec, files)
    await writeFile(envFilePath(prefix, 'slow', files), '', {mode: 0o600})
    await writeFile(labelFilePath(prefix, 'slow', files), renderLabelFile(unit.specHash), {mode: 0o600})
    const execStop = /^ExecStop=(.*)$/m.exec(unit.content)?.[1]?.split(' ') ?? []
    assert.deepEqual(execStop, ['/usr/bin/docker', 'stop', '-t', '-1', `${prefix}slow`])

    // As systemd runs ExecStart: docker run in the foreground, its exit code the container's.
    const run = execa('docker', dockerRunArgs(prefix, 'slow', spec, files), {reject: false, buffer: false})
    await new Promise<void>((resolve, reject) => {
      run.stdout?.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve())
      run.on('exit', () => reject(new Error('docker run ended before the container was ready')))
    })
    const label = await execa('docker', ['inspect', '--format', '{{index .Config.Labels "berth.spec-hash"}}', `${prefix}slow`])
    assert.equal(label.stdout.trim(), unit.specHash, 'the container carries the label file\'s hash')
    const started = Date.now()
    const stop = await execa(execStop[0]!, execStop.slice(1), {reject: false})
    const waitedS = (Date.now() - started) / 1000
    assert.equal(stop.exitCode, 0, stop.stderr)
    const ran = await run
    assert.equal(ran.exitCode, 7, `the container exited ${ran.exitCode} (137 is SIGKILL) after ${waitedS} s`)
    assert.ok(waitedS > 10, `docker stop returned after ${waitedS} s, before the container could have exited`)
  })
})
