#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each (default 60s),
# one after another. `go test` already runs each target's seed corpus
# (CI does, in scripts/test); this is the long run. A crash leaves its
# input under the package's testdata/fuzz/<Target>/, which `go test` then
# replays as a regression seed: fix the cause and commit the file.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-60s}
failed=()
while IFS= read -r line; do
  file=${line%%:*}
  target=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]+).*/\1/' <<<"${line#*:}")
  pkg=./$(dirname "$file")
  echo "== $pkg $target ($FUZZTIME)"
  if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"; then
    failed+=("$pkg $target")
  fi
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' . | sed -E 's/^\.\/([^:]+):[0-9]+:/\1:/' | sort)
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "all fuzz targets ran for $FUZZTIME without a failure"
