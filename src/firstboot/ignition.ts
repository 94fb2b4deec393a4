import type {NodeBoot} from './model.js'
import type {Templates} from './templates.js'

/** Ignition's data URL for a file's contents. */
function dataUrl(content: string): string {
  return `data:;base64,${Buffer.from(content).toString('base64')}`
}

/**
 * Ignition spec 3.3.0 JSON, what Flatcar reads at first boot: the `core` user's keys, the
 * host key, node.json and the etcd environment as files, units and drop-ins under systemd.
 */
export function renderIgnition(boot: NodeBoot, t: Templates): string {
  const {machine} = boot
  const files = [
    {path: '/etc/hostname', mode: 0o644, content: `${machine.name}\n`},
    {path: '/etc/ssh/ssh_host_ed25519_key', mode: 0o600, content: boot.hostKey.private},
    {path: '/etc/ssh/ssh_host_ed25519_key.pub', mode: 0o644, content: `${boot.hostKey.public}\n`},
    ...boot.files,
  ]
  const units: Record<string, unknown>[] = []
  if (boot.etcdEnv) {
    units.push({
      name: 'etcd-member.service',
      enabled: true,
      dropins: [{name: '20-berth.conf', contents: t['etcd-member.conf']({name: machine.name, cluster: boot.cluster, env: boot.etcdEnv})}],
    })
  }
  for (const unit of boot.units) {
    units.push({
      name: unit.name,
      ...(unit.content ? {contents: unit.content} : {}),
      ...(unit.dropIns.length > 0 ? {dropins: unit.dropIns.map((d) => ({name: d.name, contents: d.content}))} : {}),
      ...(unit.enable ? {enabled: true} : {}),
    })
  }
  const config = {
    ignition: {version: '3.3.0'},
    passwd: {users: [{name: 'core', sshAuthorizedKeys: boot.authorizedKeys}]},
    storage: {
      directories: boot.directories.map((d) => ({path: d.path, mode: d.mode, overwrite: true})),
      files: files.map((f) => ({path: f.path, mode: f.mode, overwrite: true, contents: {source: dataUrl(f.content)}})),
    },
    systemd: {units},
  }
  return `${JSON.stringify(config, null, 2)}\n`
}
