#!/usr/bin/env bash
# Every benchmark, each printing a Markdown table (the README quotes them).
# Needs a built tree (npm run build) and dockerd (scripts/services.sh dockerd).
set -euo pipefail
cd "$(dirname "$0")/.."

# This VM's root file system is ext4 without a journal, where writing files soon after
# deleting others is slow (README, "Measured"). As root, the first-boot bench also writes
# to a journaled ext4 in a loop file, the kind of disk a provisioning server usually has.
if [[ $(id -u) == 0 ]] && command -v mkfs.ext4 >/dev/null; then
  image=$(mktemp /var/tmp/berth-bench-XXXXXX.ext4)
  mnt=$(mktemp -d /var/tmp/berth-bench-mnt-XXXXXX)
  trap 'umount "$mnt" 2>/dev/null; rm -f "$image"; rmdir "$mnt"' EXIT
  truncate -s 1G "$image" && mkfs.ext4 -q -F "$image" && mount -o loop "$image" "$mnt" &&
    export BERTH_BENCH_JOURNALED_DIR=$mnt
fi

node dist/bench/first-boot.js
node dist/bench/agent-diff.js 50
node dist/bench/placement.js 20
node dist/bench/machine-lost.js 3
node dist/bench/local-cluster.js 3
node dist/bench/secrets-upload.js
node dist/bench/agent-latency.js 25
node dist/bench/agent-overhead.js 2 30
node dist/bench/rolling-upgrade.js
node dist/bench/service-update.js 20
node dist/bench/restore.js 200
node dist/bench/power-cut.js 3
node dist/bench/logs.js 30
# The admin API fuzz also runs over etcd when the test services are up (scripts/services.sh).
(set -a; source <(bash scripts/services.sh env); set +a; node dist/bench/api-fuzz.js)
(set -a; source <(bash scripts/services.sh env); set +a; node dist/bench/audit.js 100)
(set -a; source <(bash scripts/services.sh env); set +a; node dist/bench/watch-fanout.js 20 200)
