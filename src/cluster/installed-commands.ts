import {UsageError} from '../errors.js'
import {AGENT_UNIT_MARK, NODE_PATHS, systemUnitName, UNIT_PREFIX_PATTERN} from '../layout/node.js'

/**
 * The shell commands that stop, remove and (re)install berth's system on a machine over SSH
 * (an upgrade, a removal), built as plain strings so the tests can assert them exactly. Only
 * units carrying the cluster's prefix are touched; the installer's own units (first-boot
 * files), etcd and /etc/berth/secrets are left alone.
 */

const PREFIX = new RegExp(UNIT_PREFIX_PATTERN)
// An image reference: registry host[:port]/path[:tag]; nothing a shell would read as syntax.
const IMAGE = /^[A-Za-z0-9][A-Za-z0-9._:/@-]*$/

function checked(prefix: string): string {
  if (!PREFIX.test(prefix)) throw new UsageError([{path: 'unitPrefix', message: `not a unit prefix: ${JSON.stringify(prefix)}`, fix: 'in cluster.yaml: lower-case letters, digits and dashes, starting with a letter and ending with "-", like "berth-"'}])
  return prefix
}

/** An image reference goes into a shell command: nothing a shell would read as syntax. */
function checkImage(image: string, path: string): void {
  if (!IMAGE.test(image)) throw new UsageError([{path, message: `not an image reference: ${JSON.stringify(image)}`, fix: 'a reference like 10.0.0.2:5000/berth/installer:0.2.0 (letters, digits and . _ : / @ -)'}])
}

/**
 * Lists the service units the agent wrote, one name a line: prefixed unit files whose
 * first line is the agent's mark. The prefix alone is not enough: a node image may carry
 * units of its own that share it (an operator's, or an image's).
 */
function agentUnits(prefix: string): string {
  return `cd /etc/systemd/system && { grep -l -s '^${AGENT_UNIT_MARK}' ${prefix}*.service || true; } | grep -vx -e '${systemUnitName(prefix, 'agent')}' -e '${systemUnitName(prefix, 'installer')}' || true`
}

/**
 * Stops the agent first (it would otherwise start the services again on its next pass),
 * then every other prefixed service in one `systemctl stop`, so they stop in parallel,
 * each through its own `ExecStop=docker stop -t N`: SIGTERM, then its stop timeout. Prints
 * the services it stopped.
 */
export function stopServicesCommand(prefix: string): string {
  const p = checked(prefix)
  return [
    'set -e',
    // Absent after an interrupted upgrade removed it already: a second run goes on from there.
    `if [ -e '/etc/systemd/system/${systemUnitName(p, 'agent')}' ]; then systemctl stop '${systemUnitName(p, 'agent')}'; fi`,
    `units=$(${agentUnits(p)})`,
    'if [ -n "$units" ]; then systemctl stop $units; fi',
    'echo $units',
  ].join('\n')
}

/**
 * Removes the installed system: the agent's unit and the services' unit files the agent
 * wrote, with their drop-ins and enablement links, the agent's options and the services'
 * env files in /run/berth. The installer's units, etcd and the node secrets stay.
 */
export function removeInstalledCommand(prefix: string): string {
  const p = checked(prefix)
  return [
    'set -e',
    `units="$(${agentUnits(p)}) ${systemUnitName(p, 'agent')}"`,
    'cd /etc/systemd/system',
    'for f in $units; do',
    '  [ -e "$f" ] || continue',
    '  rm -rf "$f" "$f.d" */"$f"',
    '  echo "$f"',
    'done',
    `rm -f ${NODE_PATHS.agentOptions} ${NODE_PATHS.envFiles}/*.env`,
    'systemctl daemon-reload',
    `systemctl reset-failed '${p}*.service' 2>/dev/null || true`,
  ].join('\n')
}

// A drop-in that keeps the installer unit from pulling its configured tag over the one
// the upgrade chose (which was pulled and tagged as the configured reference just before).
const DROP_IN = 'upgrade-image.conf'

/**
 * Pulls the installer image and runs the installer unit, waiting for it (a oneshot). With
 * a `chosen` image other than the unit's own, the chosen one is pulled and tagged as the
 * unit's reference, and a drop-in skips the unit's own pull. A failure prints the last
 * journal lines of that run of the installer (not of earlier ones).
 */
export function runInstallerCommand(prefix: string, unitImage: string, chosen?: string): string {
  const p = checked(prefix)
  checkImage(unitImage, 'installer/image')
  if (chosen !== undefined) checkImage(chosen, '--image')
  const unit = systemUnitName(p, 'installer')
  const dropInDir = `/etc/systemd/system/${unit}.d`
  const pin = chosen !== undefined && chosen !== unitImage
  return [
    'set -e',
    // Uploaded over SSH, or put back from their sealed copy at a reboot: either lets the installer run.
    `test -e ${NODE_PATHS.secrets}/uploaded || test -e ${NODE_PATHS.secrets}/unsealed || { echo 'no node secrets: run berth cluster upload-secrets first' >&2; exit 3; }`,
    `docker pull -q '${pin ? chosen : unitImage}' >/dev/null`,
    ...(pin
      ? [
          `docker tag '${chosen}' '${unitImage}'`,
          `mkdir -p '${dropInDir}'`,
          `printf '%s\\n' '[Service]' 'ExecStartPre=' 'ExecStartPre=/usr/bin/install -d -m 0700 ${NODE_PATHS.envFiles}' 'ExecStartPre=-/usr/bin/docker rm -f ${p}installer' > '${dropInDir}/${DROP_IN}'`,
        ]
      : [`rm -f '${dropInDir}/${DROP_IN}'`]),
    'systemctl daemon-reload',
    // Only on failure: journald may not have read the failed run's last lines when start
    // returns (it reads the unit's output stream on its own time, later on a loaded
    // machine), so wait until the run's line count holds still for half a second (5 s at most).
    `if ! systemctl start '${unit}'; then id=$(systemctl show -p InvocationID --value '${unit}'); n=-1; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 0.5; journalctl --sync 2>/dev/null; m=$(journalctl -q --no-pager -o cat _SYSTEMD_INVOCATION_ID=$id | wc -l); [ "$m" = "$n" ] && [ "$m" != 0 ] && break; n=$m; done; journalctl -n 12 --no-pager -o cat _SYSTEMD_INVOCATION_ID=$id >&2; exit 1; fi`,
  ].join('\n')
}
