import {type YamlValue, toYaml} from '../yaml-emit.js'

import type {NodeBoot} from './model.js'
import type {Templates} from './templates.js'

/**
 * CoreOS cloud-config, as coreos-cloudinit reads it (Container Linux, Flatcar): files
 * through write_files, units and drop-ins under `coreos.units`, etcd as a drop-in for
 * etcd-member.service. The host key is written as files: coreos-cloudinit has no ssh_keys.
 */
export function renderCoreos(boot: NodeBoot, t: Templates): string {
  const {machine} = boot
  const files = [
    {path: '/etc/ssh/ssh_host_ed25519_key', mode: 0o600, content: boot.hostKey.private},
    {path: '/etc/ssh/ssh_host_ed25519_key.pub', mode: 0o644, content: `${boot.hostKey.public}\n`},
    ...boot.files,
  ]
  const units: YamlValue[] = []
  if (boot.etcdEnv) {
    units.push({
      name: 'etcd-member.service',
      enable: true,
      command: 'start',
      drop_ins: [{name: '20-berth.conf', content: t['etcd-member.conf']({name: machine.name, cluster: boot.cluster, env: boot.etcdEnv})}],
    })
  }
  for (const unit of boot.units) {
    units.push({
      name: unit.name,
      ...(unit.content ? {content: unit.content} : {}),
      ...(unit.dropIns.length > 0 ? {drop_ins: unit.dropIns} : {}),
      ...(unit.enable ? {enable: true} : {}),
      ...(unit.command ? {command: unit.command} : {}),
    })
  }
  const config = {
    hostname: machine.name,
    ssh_authorized_keys: boot.authorizedKeys,
    write_files: files.map((f) => ({path: f.path, permissions: `0${f.mode.toString(8)}`, owner: 'root:root', content: f.content})),
    coreos: {units},
  }
  return `#cloud-config\n# berth first-boot file for ${machine.name} (${machine.role}). It holds no secret: node secrets arrive over SSH.\n${toYaml(config)}`
}
