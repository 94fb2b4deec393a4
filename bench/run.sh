#!/usr/bin/env bash
# Every benchmark, each printing a Markdown table (the README quotes them).
# Needs a built tree (npm run build) and dockerd (scripts/services.sh dockerd).
set -euo pipefail
cd "$(dirname "$0")/.."
node dist/bench/first-boot.js
node dist/bench/agent-diff.js 50
node dist/bench/local-cluster.js 3
node dist/bench/secrets-upload.js
node dist/bench/agent-latency.js 25
node dist/bench/rolling-upgrade.js
