#!/usr/bin/env bash
# The conference mixer at 8 and 16 kHz, old against new in one run
# (issue 19 item 3): BenchmarkMixerWideband (N legs of which `wide` are
# G.722; wide=0 is all-G.711) at commit OLD (44523e5, the 8 kHz-only
# mixer; the benchmark's file is copied into it) and at HEAD, interleaved
# RUNS (3) times, each run a fresh process. Prints a Markdown table of
# medians of wall and CPU time per 20 ms frame (CPU time, from getrusage,
# is what a loaded shared machine disturbs least) and the ratios new/old,
# with the range of the CPU figures over the runs; BENCH narrows the
# benchmarks. OLD is unpacked with git archive into a temporary directory,
# removed at the end (KEEP=1 keeps it and the raw output).
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

pat=${BENCH:-'^BenchmarkMixerWideband$'}
for i in $(seq "$RUNS"); do
  for side in old new; do
    timeout 600 "$WORK/$side-mix.test" -test.run '^$' -test.bench "$pat" -test.benchtime "$BENCHTIME" -test.benchmem \
      | awk -v side="$side" '/^Benchmark/ { ns = ""; cpu = ""; for (i = 2; i <= NF; i++) { if ($i == "ns/op") ns = $(i-1); if ($i == "cpu-ns/frame") cpu = $(i-1) } sub(/-[0-9]+$/, "", $1); print side, $1, ns, (cpu == "" ? ns : cpu) }' >>"$WORK/raw.txt"
  done
done

python3 - "$WORK/raw.txt" <<'PY'
import sys, statistics, collections
ns, cpu = collections.defaultdict(list), collections.defaultdict(list)
order = []
for line in open(sys.argv[1]):
    side, name, n, c = line.split()
    if name not in order:
        order.append(name)
    ns[(side, name)].append(float(n))
    cpu[(side, name)].append(float(c))
def med(d, k):
    return statistics.median(d[k]) if d.get(k) else None
def ratio(a, b):
    return f"{b/a:.2f}" if a and b else "-"
def spread(d, side, name):
    v = d.get((side, name))
    return f"{min(v)/1e3:.0f}–{max(v)/1e3:.0f}" if v else "-"
print("| benchmark | old µs/frame | new µs/frame | new/old | old CPU µs/frame | new CPU µs/frame | CPU new/old | old CPU range | new CPU range |")
print("|---|---|---|---|---|---|---|---|---|")
for name in order:
    o, n = med(ns, ("old", name)), med(ns, ("new", name))
    co, cn = med(cpu, ("old", name)), med(cpu, ("new", name))
    f = lambda x: f"{x/1e3:.1f}" if x else "-"
    print(f"| {name.removeprefix('Benchmark')} | {f(o)} | {f(n)} | {ratio(o, n)} | {f(co)} | {f(cn)} | {ratio(co, cn)} | {spread(cpu, 'old', name)} | {spread(cpu, 'new', name)} |")
PY
