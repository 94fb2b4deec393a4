#!/usr/bin/env bash
# Puts `berth` on the PATH: a symbolic link DIR/berth → this checkout's bin/run.js
# (DIR: $1, else /usr/local/bin). Run by setup.sh; safe to run again. A DIR/berth that is
# not a symbolic link (someone's own program) is left alone, and the script says so.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd -P)
dir=${1:-/usr/local/bin}
target=$root/bin/run.js
link=$dir/berth

if [[ -e $link && ! -L $link ]]; then
  printf 'link-bin: %s exists and is not a link berth made; left alone (run %s directly, or remove it and run this again)\n' "$link" "$target" >&2
  exit 1
fi
mkdir -p "$dir"
if [[ $(readlink "$link" 2>/dev/null || true) == "$target" ]]; then
  printf 'link-bin: %s → %s already\n' "$link" "$target" >&2
  exit 0
fi
# A new link beside the old one, renamed over it: never a moment without berth.
ln -sfn "$target" "$link.tmp.$$"
mv -Tf "$link.tmp.$$" "$link"
printf 'link-bin: %s → %s\n' "$link" "$target" >&2
case ":$PATH:" in
  *":$dir:"*) ;;
  *) printf 'link-bin: %s is not on your PATH; add it, or run %s\n' "$dir" "$link" >&2 ;;
esac
