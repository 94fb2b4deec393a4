#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine, run as root, to build and test berth: the Debian
# packages the tests and the local cluster use, the npm dependencies, and a build.
# Safe to run again: each step is skipped when its result is already there.
#
#   scripts/setup.sh            # then: scripts/services.sh start
#
# Last, it links /usr/local/bin/berth to this checkout's bin/run.js (BERTH_BIN_DIR to put
# the link elsewhere).
set -euo pipefail

cd "$(dirname "$0")/.."
LOG=$(mktemp /tmp/berth-setup.XXXXXX.log)

# Every program the code, the tests, the benchmarks and the scripts run on this machine comes
# from one of these or from what a fresh machine has (test/harness/programs.json says which);
# test/harness/programs.test.ts fails when one does not.
PACKAGES=(
  docker.io # docker, dockerd: image builds, the local cluster's nodes, services.sh
  etcd-server # etcd: services.sh and the etcd tests start their own
  etcd-client # etcdctl: services.sh waits for etcd's health with it
  openssh-server # /usr/sbin/sshd: services.sh's test sshd and the secrets-upload bench
  openssh-client # ssh, ssh-keygen: local-cluster ssh, the demo, services.sh, the SSH tests
  docker-registry # services.sh's test registry
  debootstrap # the base image when dockerd has no debian:bookworm (never Docker Hub)
  cloud-init # `cloud-init schema`: the demo and the first-boot tests validate cloud-init files
  ignition # ignition-validate: the same for Ignition files
  vagrant # local-cluster's Vagrant provider and its test
  busybox-static # /bin/busybox: the example service's and the agent tests' images copy it
  iproute2 # ss: services.sh names the process holding a port it needs
  curl # the main job asks the example service from this computer
  openssl # berth makes the agent API's TLS certificate with it (provision), the agent tests too
  python3 python3-yaml # /usr/bin/python3 with PyYAML: the YAML writer's round-trip test
  prometheus # the metrics tests scrape agents with a real Prometheus on loopback
)
PG_BIN=/usr/lib/postgresql/15/bin
POLICY=/usr/sbin/policy-rc.d

step() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# Runs "$@" with its output in $LOG; on failure shows the end of it and stops.
quietly() {
  if ! "$@" >>"$LOG" 2>&1; then
    tail -n 30 "$LOG" >&2
    die "\`$*\` failed (full log: $LOG)"
  fi
}

check_machine() {
  [[ $(id -u) == 0 ]] || die "run as root (apt-get, and services.sh starts sshd and PostgreSQL)"
  command -v apt-get >/dev/null || die "this script knows Debian's apt-get only"
  command -v node >/dev/null || die "Node.js 20.11 or newer is needed; install it first"
  node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 11) ? 0 : 1)' ||
    die "Node.js $(node --version) is too old; berth needs 20.11 or newer"
}

# Lists the packages of "$@" that are not installed yet.
missing_packages() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
  done
}

install_packages() {
  local wanted=("${PACKAGES[@]}") missing
  [[ -x $PG_BIN/initdb ]] || wanted+=(postgresql)
  mapfile -t missing < <(missing_packages "${wanted[@]}")
  if ((${#missing[@]} == 0)); then
    step "Debian packages: all present"
    return
  fi
  step "installing ${missing[*]}"
  # Package scripts would otherwise start etcd on :2379, a registry on :5000, dockerd, haproxy
  # and PostgreSQL on :5432 through their init scripts; the tests start their own, on
  # loopback and ports of their own, so forbid service starts for the length of the install.
  if [[ ! -e $POLICY ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY"
    chmod 755 "$POLICY"
    trap 'rm -f "$POLICY"' EXIT # only ours: an existing policy-rc.d is left as it was
  fi
  export DEBIAN_FRONTEND=noninteractive
  quietly apt-get update -q
  quietly apt-get install -y -q --no-install-recommends "${missing[@]}"
  [[ -x $PG_BIN/initdb ]] || die "PostgreSQL 15 is still missing from $PG_BIN after installing postgresql"
}

# npm ci wipes node_modules, so it runs only when package-lock.json changed since the last one.
install_node_modules() {
  local stamp=node_modules/.berth-setup-lock-sha256 sum
  sum=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [[ -f $stamp && $(cat "$stamp") == "$sum" ]]; then
    step "npm dependencies: up to date"
    return
  fi
  step "npm ci"
  quietly npm ci --no-audit --no-fund --loglevel=error
  echo "$sum" >"$stamp"
}

build() {
  step "npm run build"
  quietly npm run build --silent
}

# The README's examples say `berth`: a link in /usr/local/bin to this checkout's bin/run.js.
link_berth() {
  step "berth on the PATH"
  bash scripts/link-bin.sh "${BERTH_BIN_DIR:-/usr/local/bin}"
}

check_machine
install_packages
install_node_modules
build
link_berth
rm -f "$LOG"
step "done; next: scripts/services.sh start"
