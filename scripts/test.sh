#!/usr/bin/env bash
# The whole test suite: lint, type-check and build, start the real components the tests
# talk to (dockerd, etcd, PostgreSQL, sshd, a registry), then every test file.
# Usage: npm test [-- FILE.test.ts ...]   (a subset, by source path)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== lint"
npm run --silent lint
echo "== type-check and build"
npm run --silent build >/dev/null

echo "== components"
bash scripts/services.sh start
set -a
# shellcheck disable=SC1090
source <(bash scripts/services.sh env)
set +a
# The node image and the agent image the end-to-end tests boot (each skipped when unchanged).
node bin/run.js local-cluster build-image
node bin/run.js images build

if [ $# -gt 0 ]; then
  files=()
  for f in "$@"; do files+=("dist/${f%.ts}.js"); done
else
  mapfile -t files < <(find dist/test -name '*.test.js' | sort)
fi
echo "== tests (${#files[@]} files)"
log=$(mktemp)
status=0
node --test --test-reporter=spec "${files[@]}" 2>&1 | tee "$log" || status=$?
# One plain closing line, whatever reads this output.
passed=$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$log" | tail -n1)
failed=$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$log" | tail -n1)
cancelled=$(sed -n 's/^ℹ cancelled \([0-9]*\)$/\1/p' "$log" | tail -n1)
rm -f "$log"
# A test cancelled because its suite's set-up failed did not pass: it counts as failed.
echo "tests: ${passed:-0} passed, $(( ${failed:-0} + ${cancelled:-0} )) failed"
exit "$status"
