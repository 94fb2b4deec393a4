import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {type Inventory, inventoryProblems, readInventory, readSetupPackages, scanFile, scanRepository, setupPackages, unaccountedFolders} from './inventory.js'
import {scanShell} from './shell-scan.js'
import {type Scan, scanSource} from './source-scan.js'

const programs = (scan: Scan) => scan.findings.map((f) => `${f.line} ${f.program}`)
const shell = (text: string) => scanShell('x.sh', text).map((f) => `${f.line} ${f.program}`)

/** The repository's scan with one more file, and the problems the real inventory finds in it. */
async function withFile(file: string, text: string, change: (inventory: Inventory) => void = () => {}): Promise<string[]> {
  const [scan, inventory, installed] = await Promise.all([scanRepository(), readInventory(), readSetupPackages()])
  change(inventory)
  const extra = scanFile(file, text)
  return inventoryProblems({findings: [...scan.findings, ...extra.findings], unreadable: [...scan.unreadable, ...extra.unreadable]}, inventory, installed)
}

describe('every program berth runs on this host comes from setup.sh or a fresh machine', () => {
  it('the repository: no problem', async () => {
    const [scan, inventory, installed] = await Promise.all([scanRepository(), readInventory(), readSetupPackages()])
    assert.deepEqual(inventoryProblems(scan, inventory, installed), [])
    // The scan sees what the fresh machine lacked before issue 10, and what the main job runs.
    const found = new Set(scan.findings.map((f) => f.program))
    for (const program of ['/bin/busybox', 'docker', 'debootstrap', 'ignition-validate', 'curl', 'openssl', 'python3:yaml', '/usr/lib/postgresql/15/bin/initdb']) {
      assert.ok(found.has(program) || inventory.indirect.some((e) => e.programs.includes(program)), program)
    }
  })

  it('every top-level folder is scanned or left out for a stated reason', async () => {
    assert.deepEqual(await unaccountedFolders(), [], 'add the folder to SOURCE_DIRS or NOT_SCANNED in test/harness/inventory.ts')
  })

  it('a new execa("jq") without jq in setup.sh fails, naming the file and the program', async () => {
    assert.deepEqual(await withFile('src/new.ts', "const {execa} = await import('execa')\nawait execa('jq', ['.'], {input})\n"), [
      'src/new.ts:2: runs jq, which test/harness/programs.json maps to no Debian package: add "programs": {"jq": "<package>"} there (dpkg -S tells which) and the package to PACKAGES in scripts/setup.sh',
    ])
    const mapped = await withFile('src/new.ts', "await execa('jq', ['.'])\n", (inventory) => (inventory.programs.jq = 'jq'))
    assert.deepEqual(mapped, [
      'src/new.ts:1: runs jq, from the Debian package jq, which scripts/setup.sh does not install: add jq to its PACKAGES, with a comment saying who uses it',
    ])
  })

  it('a script, an absolute path, a Python module and an unreadable program name fail too', async () => {
    assert.deepEqual(await withFile('scripts/new.sh', '#!/usr/bin/env bash\nif [[ -f $f ]]; then\n  out=$(jq -r .name <"$f")\nfi\n'), [
      'scripts/new.sh:3: runs jq, which test/harness/programs.json maps to no Debian package: add "programs": {"jq": "<package>"} there (dpkg -S tells which) and the package to PACKAGES in scripts/setup.sh',
    ])
    assert.deepEqual(await withFile('test/new.test.ts', "const pg = '/usr/lib/postgresql/16/bin/pg_dump'\n"), [
      'test/new.test.ts:1: runs /usr/lib/postgresql/16/bin/pg_dump, which test/harness/programs.json maps to no Debian package: add "programs": {"/usr/lib/postgresql/16/bin/pg_dump": "<package>"} there (dpkg -S tells which) and the package to PACKAGES in scripts/setup.sh',
    ])
    assert.deepEqual(await withFile('test/new.test.ts', "await execa('/usr/bin/python3', ['-c', 'import sys, toml'])\n"), [
      'test/new.test.ts:1: imports the Python module toml, which test/harness/programs.json maps to no Debian package: add "pythonModules": {"toml": "<package>"} there (dpkg -S tells which) and the package to PACKAGES in scripts/setup.sh',
    ])
    assert.deepEqual(await withFile('src/new.ts', 'await execa(tool, args)\n'), [
      'src/new.ts:1: runs the program named by `tool`, which the scan cannot read: list what it runs under "indirect" in test/harness/programs.json',
    ])
  })

  it('stale entries fail: a package nothing uses, a mapping, an exemption', async () => {
    const [scan, inventory] = await Promise.all([scanRepository(), readInventory()])
    inventory.programs.jq = 'jq'
    inventory.elsewhere.push({program: 'rsync', files: ['src/gone.ts'], why: 'test'})
    assert.deepEqual(inventoryProblems(scan, inventory, [...(await readSetupPackages()), 'haproxy']), [
      'scripts/setup.sh: installs haproxy, but nothing scanned runs a program of it: remove it, or map the program that needs it in test/harness/programs.json',
      'test/harness/programs.json: programs: nothing scanned runs jq: remove its entry',
      'test/harness/programs.json: elsewhere: rsync is no longer found in src/gone.ts: remove the entry',
    ])
  })
})

describe('the source scanner', () => {
  it('reads execa, child_process, pipes, wrappers, sh -c and python3 -c, and program paths', () => {
    const text = [
      "await execa('docker', ['ps'])",
      "execFileSync('ssh-keygen', ['-l'])",
      "spawn(\n  'etcd', [])",
      "await execa('tar', ['-c']).pipe('docker', ['import', '-'])",
      'await execa(process.execPath, [cli])',
      'async function streamed(file: string, args: string[]) { return execa(file, args) }',
      "await streamed('debootstrap', [dir])",
      "await execa('sh', ['-c', 'command -v vagrant && exec hyperfine x'])",
      "await execa('/usr/bin/python3', ['-c', 'import json,sys\\nfrom yaml import safe_load'])",
      "const unit = 'ExecStart=/usr/bin/docker run; ExecStop=/usr/local/bin/x'",
      "await execa(`${dir}/x`, [])",
    ].join('\n')
    const scan = scanSource('src/x.ts', text)
    assert.deepEqual(programs(scan), [
      '1 docker', '2 ssh-keygen', '3 etcd', '5 tar', '5 docker', '6 node', '9 sh', '9 vagrant', '9 hyperfine',
      '10 /usr/bin/python3', '10 python3:json', '10 python3:sys', '10 python3:yaml', '8 debootstrap', '10 /usr/bin/python3', '11 /usr/bin/docker',
    ])
    assert.deepEqual(scan.unreadable, [{file: 'src/x.ts', line: 12, argument: '`${dir}/x`, [])'}])
  })

  it('reads execa templates, and child_process exec lines as shell', () => {
    const text = "import {exec, execSync} from 'node:child_process'\nawait execa`rsync -a ${from} ${to}`\nexecSync('git rev-parse HEAD | tr -d x')\nexec(line)\n"
    const scan = scanSource('src/x.ts', text)
    assert.deepEqual(programs(scan), ['2 rsync', '3 git', '3 tr'])
    assert.deepEqual(scan.unreadable, [{file: 'src/x.ts', line: 4, argument: 'line'}])
  })

  it('reads setup.sh\'s PACKAGES, comments dropped', () => {
    assert.deepEqual(setupPackages('X=1\nPACKAGES=(\n  a b # uses (c)\n  # d\n  e\n)\nY=(f)\n'), ['a', 'b', 'e'])
  })
})

describe('the shell scanner', () => {
  it('finds commands at command position only', () => {
    assert.deepEqual(shell('cd "$(dirname "$0")/.."\nLOG=$(mktemp /tmp/x)\nexport A=1\nfor p in a b; do echo "$p" | grep -q x || curl -s x; done\n'), [
      '1 dirname', '2 mktemp', '4 grep', '4 curl',
    ])
  })

  it('skips functions, heredocs, quotes, comments, [[ ]] and case patterns', () => {
    const text = [
      'log() { printf "%s\\n" "$*" >&2; }', // 1
      'log "jq would not run here"', // 2
      'cat >"$f" <<EOF', // 3
      'jq is data here', // 4
      'EOF', // 5
      '# rsync in a comment', // 6
      "[[ -x $(command -v ss) && a == b ]] && sed -n 's/x/y/p' f", // 7
      'case $1 in', // 8
      '  start) tar -c . ;;', // 9
      '  *) git status ;;', // 10
      'esac', // 11
      'PACKAGES=(', // 12
      '  jq # (json)', // 13
      ')', // 14
      'x=$(( a + 1 ))', // 15
    ].join('\n')
    assert.deepEqual(shell(text), ['3 cat', '7 ss', '7 sed', '9 tar', '10 git'])
  })

  it('follows runners: functions that run "$@", setsid, runuser, eval and trap strings, $CONST paths', () => {
    const text = [
      'PG_BIN=${BERTH_TEST_PG_BIN:-/usr/lib/postgresql/15/bin}',
      'spawn() { local name=$1; shift; setsid "$@" >"$name.log" 2>&1 & }',
      'quietly() { if ! "$@" >>"$LOG" 2>&1; then return 1; fi; }',
      'spawn registry docker-registry serve c.yml',
      'quietly apt-get update -q',
      'runuser -u postgres -- "$PG_BIN/initdb" -D d',
      "trap 'umount \"$mnt\"; rm -f x' EXIT",
      "eval 'docker info >/dev/null'",
      "bash -c 'hostname -f'",
      'source <(bash scripts/services.sh env)',
    ].join('\n')
    assert.deepEqual(shell(text), [
      '2 setsid', '4 docker-registry', '5 apt-get', '6 runuser', '6 /usr/lib/postgresql/15/bin/initdb',
      '7 umount', '7 rm', '8 docker', '9 bash', '9 hostname', '10 bash',
    ])
  })
})
