/**
 * The README cannot drift from berth: its worked example runs as written (the sh blocks
 * before the marker, in an empty folder with a home of its own and `berth` on the PATH
 * through setup's link), its deploy file is one `service deploy` accepts, and every
 * `berth …` line of every sh block names a command and flags that exist.
 */
import assert from 'node:assert/strict'
import {mkdir, readFile, readdir, writeFile} from 'node:fs/promises'
import path from 'node:path'
import {describe, it} from 'node:test'
import {execa} from 'execa'

import {readDeployFile} from '../../src/access/deploy-file.js'
import {packageRoot} from '../../src/paths.js'
import {scratch} from '../support/cli.js'

const MARKER = '<!-- test/cli/readme.test.ts runs every sh block above this line, as written, in an empty folder. -->'

interface Block {lang: string; text: string}

async function readme(): Promise<string> {
  return readFile(path.join(packageRoot, 'README.md'), 'utf8')
}

/** The fenced code blocks of `markdown`, in order. */
function blocks(markdown: string): Block[] {
  return [...markdown.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({lang: m[1]!, text: m[2]!}))
}

/** The section under `## title`, up to the next `## `. */
function section(markdown: string, title: string): string {
  const start = markdown.indexOf(`\n## ${title}\n`)
  assert.ok(start >= 0, `README has no "## ${title}"`)
  const end = markdown.indexOf('\n## ', start + 1)
  return markdown.slice(start, end === -1 ? undefined : end)
}

/** Every command id (and alias) with its flags, long and short, from the manifests berth ships and loads. */
async function commands(): Promise<Map<string, Set<string>>> {
  const files = [path.join(packageRoot, 'oclif.manifest.json'), path.join(packageRoot, 'node_modules/@oclif/plugin-autocomplete/oclif.manifest.json')]
  const known = new Map<string, Set<string>>()
  for (const file of files) {
    const manifest = JSON.parse(await readFile(file, 'utf8')) as {commands: Record<string, {aliases?: string[]; flags: Record<string, {char?: string}>}>}
    for (const [id, command] of Object.entries(manifest.commands)) {
      const flags = new Set(['help', ...Object.entries(command.flags).flatMap(([name, f]) => [name, ...(f.char ? [f.char] : [])])])
      for (const name of [id, ...(command.aliases ?? [])]) known.set(name.replaceAll(':', ' '), flags)
    }
  }
  return known
}

describe('the README', () => {
  it('runs its worked example as written, in an empty folder on a machine with nothing of berth\'s', async () => {
    const text = await readme()
    const worked = section(text, 'A worked example')
    assert.ok(worked.includes(MARKER), 'the worked example has its marker')
    const script = blocks(worked.slice(0, worked.indexOf(MARKER))).filter((b) => b.lang === 'sh').map((b) => b.text).join('\n')
    assert.match(script, /berth cluster init/)
    const dir = await scratch()
    const [home, bin, work] = ['home', 'bin', 'work'].map((d) => path.join(dir, d)) as [string, string, string]
    await Promise.all([home, work].map((d) => mkdir(d)))
    // setup.sh's own step puts berth on this run's PATH.
    await execa('bash', [path.join(packageRoot, 'scripts', 'link-bin.sh'), bin])
    const env = {HOME: home, PATH: `${bin}:${process.env.PATH}`, XDG_STATE_HOME: path.join(home, '.local', 'state'), NO_COLOR: '1'}
    const run = await execa('bash', ['-euo', 'pipefail', '-c', script], {cwd: work, env, extendEnv: false, reject: false, all: true})
    assert.equal(run.exitCode, 0, `${script}\n---\n${run.all}`)
    assert.deepEqual((await readdir(path.join(work, 'boot'))).sort(), ['.berth-manifest', 'known_hosts', 'main-1.ign', 'main-2.ign', 'main-3.ign', 'worker-1.ign'])
    assert.deepEqual((await readdir(path.join(work, 'quick'))).filter((f) => f.endsWith('.yaml')).length, 4)
    // The schema line cluster init wrote names a file that is there.
    const schema = /^# yaml-language-server: \$schema=(.+)$/m.exec(await readFile(path.join(work, 'cluster.yaml'), 'utf8'))?.[1]
    assert.ok(schema && path.isAbsolute(schema), String(schema))
    assert.equal(JSON.parse(await readFile(schema, 'utf8')).$id, 'urn:berth:cluster')
  })

  it('shows a deploy file that `service deploy` accepts', async () => {
    const yaml = blocks(section(await readme(), 'A worked example')).find((b) => b.lang === 'yaml' && b.text.startsWith('# web.yaml'))
    assert.ok(yaml, 'a yaml block starting "# web.yaml"')
    const file = path.join(await scratch(), 'web.yaml')
    await writeFile(file, yaml.text)
    const specs = await readDeployFile(file)
    assert.deepEqual([...specs.keys()], ['web'])
    assert.deepEqual(specs.get('web')?.secrets, ['DB_PASSWORD'])
  })

  it('names only commands and flags that exist, in every sh block', async () => {
    const known = await commands()
    const problems: string[] = []
    for (const block of blocks(await readme()).filter((b) => b.lang === 'sh')) {
      for (const line of block.text.replaceAll('\\\n', ' ').split('\n').map((l) => l.replace(/(^|\s)#.*$/, ''))) {
        for (const use of line.matchAll(/(?:^|[\s;(|&]|\$\()berth ((?:[a-z][\w-]*\s?)+)([^#|;)]*)/g)) {
          const words = use[1]!.trim().split(/\s+/)
          const id = words.map((_, i) => words.slice(0, words.length - i).join(' ')).find((w) => known.has(w))
          if (!id) {
            problems.push(`${line.trim()}: no command "${words.join(' ')}"`)
            continue
          }
          const flags = [...`${use[1]} ${use[2]!.split(/(?:^|\s)--(?:\s|$)/)[0]}`.matchAll(/(?:^|\s)--?([\w-]+)/g)].map((m) => m[1]!)
          for (const flag of flags) if (!known.get(id)!.has(flag)) problems.push(`${line.trim()}: berth ${id} has no flag --${flag}`)
        }
      }
    }
    assert.deepEqual(problems, [])
  })
})
