import {toYaml} from '../yaml-emit.js'

import {NODE_PATHS} from '../layout/node.js'
import {SECRETS_MOUNT, type NodeBoot} from './model.js'
import type {Templates} from './templates.js'

const octal = (mode: number): string => `0${mode.toString(8)}`

/**
 * cloud-init user-data for Debian/Ubuntu machines: host key through `ssh_keys`, root's
 * authorized keys, files through write_files, etcd through /etc/default/etcd (Debian's
 * etcd.service reads it) and the units enabled by runcmd.
 */
export function renderCloudInit(boot: NodeBoot, t: Templates): string {
  const {machine} = boot
  const files = [...boot.files]
  for (const unit of boot.units) {
    if (unit.content) files.push({path: `/etc/systemd/system/${unit.name}`, mode: 0o644, content: unit.content})
    for (const dropIn of unit.dropIns) files.push({path: `/etc/systemd/system/${unit.name}.d/${dropIn.name}`, mode: 0o644, content: dropIn.content})
  }
  if (boot.etcdEnv) files.push({path: '/etc/default/etcd', mode: 0o644, content: t['etcd.env']({name: machine.name, cluster: boot.cluster, env: boot.etcdEnv})})

  const runcmd: string[][] = [
    ...boot.directories.map((d) => ['install', '-d', '-m', octal(d.mode), d.path]),
    ['systemctl', 'daemon-reload'],
  ]
  // Units first: dockerd has moved onto its tmpfs before etcd can report the node healthy.
  for (const unit of boot.units) {
    if (unit.enable) runcmd.push(['systemctl', 'enable', unit.name])
    if (unit.command) runcmd.push(['systemctl', unit.command, unit.name])
  }
  // --no-block: a first etcd member waits for its peers' quorum before it reports started.
  if (boot.etcdEnv) runcmd.push(['systemctl', 'enable', 'etcd.service'], ['systemctl', 'start', '--no-block', 'etcd.service'])
  // Secrets that arrived before the path unit was watching would otherwise wait forever.
  runcmd.push(['sh', '-c', `test ! -e ${NODE_PATHS.secrets}/uploaded || systemctl start --no-block ${boot.installerUnit}`])

  // The secrets' tmpfs is mounted in cloud-init's first stage, which runs before sshd
  // starts (and installs the host key berth checks), so no upload can come before it. On
  // later boots systemd mounts it through the unit and this finds it mounted.
  const {where, options} = SECRETS_MOUNT
  const bootcmd = [['sh', '-c', `install -d -m 0755 ${NODE_PATHS.config} && install -d -m 0700 ${where} && { mountpoint -q ${where} || mount -t tmpfs -o ${options} tmpfs ${where}; }`]]

  const userData = {
    hostname: machine.name,
    preserve_hostname: false,
    manage_etc_hosts: true,
    // Only root logs in (with the provisioner's key): no default user is created, and
    // root's keys get no "log in as debian" wrapper.
    disable_root: false,
    users: ['root'],
    ssh_pwauth: false,
    ssh_authorized_keys: boot.authorizedKeys,
    ssh_deletekeys: true,
    // The ed25519 key below is the only host key: nothing else is generated.
    ssh_genkeytypes: ['ed25519'],
    ssh_keys: {ed25519_private: boot.hostKey.private, ed25519_public: boot.hostKey.public},
    bootcmd,
    write_files: files.map((f) => ({path: f.path, permissions: octal(f.mode), owner: 'root:root', content: f.content})),
    runcmd,
  }
  return `#cloud-config\n# berth first-boot file for ${machine.name} (${machine.role}). It holds no secret: node secrets arrive over SSH.\n${toYaml(userData)}`
}
