import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import type {Cluster} from '../../src/config/types.js'
import {UsageError} from '../../src/errors.js'
import {removeInstalledCommand, runInstallerCommand, stopServicesCommand} from '../../src/cluster/installed-commands.js'
import {targetImage} from '../../src/upgrade/machine.js'

describe('upgrade commands on a machine', () => {
  it('stops the agent, then every other prefixed service at once', () => {
    assert.equal(stopServicesCommand('air-'), [
      'set -e',
      "if [ -e '/etc/systemd/system/air-agent.service' ]; then systemctl stop 'air-agent.service'; fi",
      "units=$(cd /etc/systemd/system && { grep -l -s '^# Written by berth-agent' air-*.service || true; } | grep -vx -e 'air-agent.service' -e 'air-installer.service' || true)",
      'if [ -n "$units" ]; then systemctl stop $units; fi',
      'echo $units',
    ].join('\n'))
  })

  it('removes the agent units but never the installer unit, etcd or the secrets', () => {
    const script = removeInstalledCommand('air-')
    assert.match(script, /^units="\$\(cd \/etc\/systemd\/system && .*\) air-agent\.service"$/m)
    assert.match(script, /rm -f \/etc\/berth\/agent\.json \/run\/berth\/\*\.env/)
    assert.doesNotMatch(script, /etcd|secrets/)
  })

  it('runs the configured installer, or pins a chosen one over it', () => {
    const plain = runInstallerCommand('air-', 'r:5000/berth/installer:latest')
    assert.match(plain, /docker pull -q 'r:5000\/berth\/installer:latest'/)
    assert.match(plain, /rm -f '\/etc\/systemd\/system\/air-installer\.service\.d\/upgrade-image\.conf'/)
    assert.match(plain, /if ! systemctl start 'air-installer\.service'; then id=\$\(systemctl show -p InvocationID --value 'air-installer\.service'\); .*journalctl -n 12 --no-pager -o cat _SYSTEMD_INVOCATION_ID=\$id >&2; exit 1; fi$/)
    const pinned = runInstallerCommand('air-', 'r:5000/berth/installer:latest', 'r:5000/berth/installer:0.2.0-ab')
    assert.match(pinned, /docker pull -q 'r:5000\/berth\/installer:0\.2\.0-ab'/)
    assert.match(pinned, /docker tag 'r:5000\/berth\/installer:0\.2\.0-ab' 'r:5000\/berth\/installer:latest'/)
    assert.match(pinned, /'ExecStartPre=' 'ExecStartPre=\/usr\/bin\/install -d -m 0700 \/run\/berth' 'ExecStartPre=-\/usr\/bin\/docker rm -f air-installer'/)
  })

  it('refuses what a shell would read as syntax', () => {
    assert.throws(() => stopServicesCommand("x'; rm -rf /; '"), /not a unit prefix/)
    assert.throws(() => runInstallerCommand('air-', 'r/i:1', "r/i:1'; reboot"), /not an image reference/)
    assert.throws(() => stopServicesCommand('Air'), (e: unknown) => e instanceof UsageError && e.exitCode === 2 && /^unitPrefix: not a unit prefix: "Air" \(in cluster\.yaml: .*like "berth-"\)$/.test(e.message))
    assert.throws(() => runInstallerCommand('air-', 'r/i:1', 'r/i:1 x'), (e: unknown) => e instanceof UsageError && e.exitCode === 2 && /^--image: not an image reference: "r\/i:1 x" \(a reference like /.test(e.message))
  })

  it('resolves --image as a tag of the configured repository or as a reference', () => {
    const cluster = {registry: {url: '10.0.0.2:5000'}, installer: {image: 'berth/installer:latest'}} as Cluster
    assert.equal(targetImage(cluster), '10.0.0.2:5000/berth/installer:latest')
    assert.equal(targetImage(cluster, '0.2.0-ab'), '10.0.0.2:5000/berth/installer:0.2.0-ab')
    assert.equal(targetImage(cluster, 'team/installer:3'), '10.0.0.2:5000/team/installer:3')
    assert.equal(targetImage(cluster, 'other:5000/berth/installer:3'), 'other:5000/berth/installer:3')
  })
})
