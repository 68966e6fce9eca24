#!/usr/bin/env bash
# The conference mixer at 8 and 16 kHz, old against new in one run
# (issue 19 item 3): BenchmarkMixer (all-G.711, 3-1000 legs) and
# BenchmarkMixerWideband (N legs of which `wide` are G.722) at commit OLD
# (44523e5, the 8 kHz-only mixer; the wideband benchmark file is copied
# into it) and at HEAD, interleaved RUNS (3) times, each run a fresh
# process. Prints a Markdown table of medians of ns per 20 ms frame and
# the ratio new/old (BENCH narrows the benchmarks). OLD is unpacked with git archive into a temporary
# directory, removed at the end (KEEP=1 keeps it and the raw output).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OLD=${OLD:-44523e5}
RUNS=${RUNS:-3}
BENCHTIME=${BENCHTIME:-300x}
WORK=$(mktemp -d /tmp/mixrate-bench.XXXXXX)
cleanup() { [ -n "${KEEP:-}" ] && echo "raw output kept in $WORK" >&2 || rm -rf "$WORK"; }
trap cleanup EXIT

mkdir "$WORK/old"
git -C "$ROOT" archive "$OLD" | tar -x -C "$WORK/old"
cp "$ROOT/media/mix/rate_bench_test.go" "$WORK/old/media/mix/"
(cd "$WORK/old" && timeout 300 go test -c -o "$WORK/old-mix.test" ./media/mix/)
timeout 300 go test -c -o "$WORK/new-mix.test" ./media/mix/

pat=${BENCH:-'^Benchmark(Mixer|MixerWideband)$'}
for i in $(seq "$RUNS"); do
  for side in old new; do
    timeout 600 "$WORK/$side-mix.test" -test.run '^$' -test.bench "$pat" -test.benchtime "$BENCHTIME" -test.benchmem \
      | awk -v side="$side" '/^Benchmark/ { for (i = 2; i <= NF; i++) if ($i == "ns/op") { sub(/-[0-9]+$/, "", $1); print side, $1, $(i-1) } }' >>"$WORK/raw.txt"
  done
done

python3 - "$WORK/raw.txt" <<'PY'
import sys, statistics, collections
v = collections.defaultdict(list)
order = []
for line in open(sys.argv[1]):
    side, name, ns = line.split()
    if name not in order:
        order.append(name)
    v[(side, name)].append(float(ns))
print("| benchmark | old ns/frame | new ns/frame | new/old |")
print("|---|---|---|---|")
for name in order:
    o, n = v.get(("old", name)), v.get(("new", name))
    mo = statistics.median(o) if o else None
    mn = statistics.median(n) if n else None
    r = f"{mn/mo:.2f}" if mo and mn else "-"
    f = lambda x: f"{x:.0f}" if x else "-"
    print(f"| {name.removeprefix('Benchmark')} | {f(mo)} | {f(mn)} | {r} |")
PY
