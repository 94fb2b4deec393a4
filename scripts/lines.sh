#!/usr/bin/env bash
# Lines of TypeScript per folder of src/ (each folder's own files, not its subfolders), and
# the totals of src/, commands/ and test/: the figures in the README's architecture section.
set -euo pipefail
cd "$(dirname "$0")/.."
count() { if [ $# -gt 0 ]; then cat "$@" | wc -l; else echo 0; fi; }
printf '%-22s %6s %6s\n' folder files lines
while read -r dir; do
  mapfile -t files < <(find "$dir" -maxdepth 1 -name '*.ts')
  [ ${#files[@]} -gt 0 ] && printf '%-22s %6d %6d\n' "$dir/" "${#files[@]}" "$(count "${files[@]}")"
done < <(find src -type d | sort)
for top in src commands test; do
  mapfile -t files < <(find "$top" -name '*.ts')
  printf '%-22s %6d %6d\n' "$top/**" "${#files[@]}" "$(count "${files[@]}")"
done
