import assert from 'node:assert/strict'
import {constants} from 'node:fs'
import {access, realpath} from 'node:fs/promises'
import path from 'node:path'
import {describe, it} from 'node:test'
import {execa} from 'execa'

import {INVENTORY, readInventory, readSetupPackages} from './inventory.js'

// What the fresh machine has besides Debian itself (TESTING.md): everything else that
// programs.json calls fresh must be of priority required, which every Debian install has.
const GIVEN = ['nodejs', 'postgresql-15']

interface Installed {
  priority: string
  essential: boolean
  depends: string[][]
}

const dpkgHere = (await execa('dpkg-query', ['--version'], {reject: false}).catch(() => undefined))?.exitCode === 0

/** Every installed package with its priority and dependencies (alternatives as inner lists). */
async function installedPackages(): Promise<{packages: Map<string, Installed>; providers: Map<string, string[]>}> {
  const format = '${binary:Package}\t${db:Status-Abbrev}\t${Priority}\t${Essential}\t${Depends}, ${Pre-Depends}\t${Provides}\n'
  const {stdout} = await execa('dpkg-query', ['-W', '-f', format])
  const packages = new Map<string, Installed>()
  const providers = new Map<string, string[]>()
  const names = (list: string) => list.split(',').map((d) => d.split('|').map((alt) => alt.trim().replace(/\s*\(.*\)$/, '').replace(/:\w+$/, '')).filter(Boolean))
  for (const line of stdout.split('\n')) {
    const [full, status, priority, essential, depends, provides] = line.split('\t')
    if (!full || !status?.startsWith('ii')) continue
    const name = full.replace(/:\w+$/, '')
    packages.set(name, {priority: priority ?? '', essential: essential === 'yes', depends: names(depends ?? '').filter((alts) => alts.length > 0)})
    for (const [virtual] of names(provides ?? '')) if (virtual) providers.set(virtual, [...(providers.get(virtual) ?? []), name])
  }
  return {packages, providers}
}

/** A package and everything installed that it depends on, through any alternative. */
function closure(root: string, db: Awaited<ReturnType<typeof installedPackages>>): Set<string> {
  const seen = new Set<string>()
  const queue = [root]
  while (queue.length > 0) {
    const name = queue.pop()!
    for (const real of db.packages.has(name) ? [name] : (db.providers.get(name) ?? [])) {
      if (seen.has(real)) continue
      seen.add(real)
      for (const alternatives of db.packages.get(real)!.depends) queue.push(...alternatives)
    }
  }
  return seen
}

/** The owners `dpkg -S` names for each path (diversion lines left out, architecture dropped). */
async function owners(paths: string[]): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>()
  if (paths.length === 0) return found
  const {stdout} = await execa('dpkg', ['-S', ...paths], {reject: false})
  for (const line of stdout.split('\n')) {
    const m = line.match(/^(.+?): (\/.*)$/)
    if (!m || line.startsWith('diversion ')) continue
    found.set(m[2]!, m[1]!.split(', ').map((p) => p.replace(/:\w+$/, '')))
  }
  return found
}

const exists = (file: string) => access(file, constants.F_OK).then(() => true, () => false)
// Debian 12 merged /bin into /usr/bin; dpkg records a file under the path its package ships.
const spellings = (file: string) => [file, file.startsWith('/usr/') ? file.slice(4) : `/usr${file}`]

/** The files a program name or path can be on this machine. */
async function candidates(program: string): Promise<string[]> {
  const dirs = program.startsWith('/') ? [''] : [...new Set([...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/bin', '/sbin', '/bin'])]
  const files: string[] = []
  for (const dir of dirs) {
    const file = program.startsWith('/') ? program : path.join(dir, program)
    if (await exists(file)) files.push(...spellings(file))
  }
  return [...new Set(files)]
}

describe(`${INVENTORY} agrees with dpkg on this machine`, {skip: dpkgHere ? false : 'no dpkg here'}, () => {
  it('each program belongs to the package it is mapped to (or to one that package depends on)', async () => {
    const [inventory, db] = await Promise.all([readInventory(), installedPackages()])
    const problems: string[] = []
    const files = new Map<string, string[]>()
    for (const program of Object.keys(inventory.programs)) files.set(program, await candidates(program))
    const owner = await owners([...new Set([...files.values()].flat())])
    for (const [program, pkg] of Object.entries(inventory.programs)) {
      // A fresh machine may have Node.js from outside Debian; then dpkg cannot tell.
      if (inventory.fresh.packages.includes(pkg) && !db.packages.has(pkg)) continue
      const found = files.get(program)!
      const by = [...new Set(found.flatMap((file) => owner.get(file) ?? []))]
      if (found.length === 0) problems.push(`${program}: not on this machine (run scripts/setup.sh); ${INVENTORY} says it comes from ${pkg}`)
      else if (!by.some((p) => closure(pkg, db).has(p))) problems.push(`${program}: ${INVENTORY} says ${pkg}, dpkg -S says ${by.join(', ') || 'no package'}`)
    }
    assert.deepEqual(problems, [])
  })

  it('each Python module comes from the package it is mapped to, for /usr/bin/python3', async () => {
    const [inventory, db] = await Promise.all([readInventory(), installedPackages()])
    const modules = Object.keys(inventory.pythonModules)
    const code = `import importlib\nfor m in ${JSON.stringify(modules)}:\n    print(getattr(importlib.import_module(m), '__file__', None) or '')`
    const {stdout} = await execa('/usr/bin/python3', ['-c', code])
    // A built-in module (sys) has no file: it is part of the interpreter.
    const interpreter = await realpath('/usr/bin/python3')
    const files = stdout.split('\n').map((file) => file || interpreter)
    const owner = await owners([...new Set(files.flatMap(spellings))])
    const problems = modules.flatMap((module, i) => {
      const pkg = inventory.pythonModules[module]!
      const by = spellings(files[i]!).flatMap((file) => owner.get(file) ?? [])
      return by.some((p) => closure(pkg, db).has(p)) ? [] : [`python3 module ${module} (${files[i]}): ${INVENTORY} says ${pkg}, dpkg -S says ${by.join(', ') || 'no package'}`]
    })
    assert.deepEqual(problems, [])
  })

  it('what it calls fresh is of priority required, or Node.js, PostgreSQL 15 and what they depend on', async () => {
    const [inventory, db] = await Promise.all([readInventory(), installedPackages()])
    const given = new Set(GIVEN.filter((root) => db.packages.has(root)).flatMap((root) => [...closure(root, db)]))
    const problems = inventory.fresh.packages.filter((pkg) => {
      if (GIVEN.includes(pkg)) return false
      const info = db.packages.get(pkg)
      return !(info && (info.priority === 'required' || info.essential)) && !given.has(pkg)
    })
    assert.deepEqual(problems, [], 'a fresh machine need not have these: move them to PACKAGES in scripts/setup.sh')
  })

  it('every package setup.sh installs is installed here', async () => {
    const db = await installedPackages()
    assert.deepEqual((await readSetupPackages()).filter((pkg) => !db.packages.has(pkg)), [], 'not installed: run scripts/setup.sh (or the name is not a Debian package)')
  })
})
