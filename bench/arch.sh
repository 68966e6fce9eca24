#!/usr/bin/env bash
# Figures of the architecture step (issue 9), old against new in one run:
#  (a) the relay benchmarks present at both commits (BenchmarkRelaySameCodec,
#      BenchmarkRelayTranscode), pre-refactor commit OLD (092f80a) and HEAD
#      interleaved RUNS (3) times, with -benchmem;
#  (b) BenchmarkRelayReceivePath (0, 1 and 4 observers) at HEAD;
#  (c) b2b BenchmarkLocalJoin and BenchmarkLocalJoinSIPp (a caller bridged
#      into a local conference, spliced against relayed: mouth-to-ear, CPU),
#      RUNS times;
#  (d) the duplicates tool over production code (no _test.go files) at OLD
#      and HEAD.
# Prints a Markdown table of medians and ratios ("-" where no run gave a
# figure; a failed run is reported on stderr with its output's tail and
# left out). OLD is checked out in a temporary git worktree under /tmp,
# removed at the end (KEEP=1 keeps the work directory with the raw
# output). Everything binds 127.0.0.1; every run is bounded by timeout;
# only what this script started is stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OLD=${OLD:-092f80a}
RUNS=${RUNS:-3}
BENCHTIME=${BENCHTIME:-1s}
WORK=$(mktemp -d /tmp/arch-bench.XXXXXX)
OLDTREE=$WORK/old
cleanup() {
  git -C "$ROOT" worktree remove --force "$OLDTREE" 2>/dev/null || true
  git -C "$ROOT" worktree prune 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "raw output kept in $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT

git -C "$ROOT" worktree add --quiet --detach "$OLDTREE" "$OLD"

# Test binaries built once, so that the interleaved runs measure only the
# benchmarks.
(cd "$OLDTREE" && timeout 300 go test -c -o "$WORK/old-media.test" ./media/)
timeout 300 go test -c -o "$WORK/new-media.test" ./media/
timeout 300 go test -c -o "$WORK/new-b2b.test" ./b2b/

# bench OUT SIDE RUN SECONDS DIR BINARY ARGS...: one bounded benchmark run,
# its lines tagged "SIDE RUN" and appended to OUT.
bench() {
  local out=$1 side=$2 run=$3 secs=$4 dir=$5 bin=$6
  shift 6
  if ! (cd "$dir" && timeout "$secs" "$bin" -test.run '^$' "$@" -test.count 1) >"$WORK/last.txt" 2>&1; then
    echo "arch.sh: $side run $run of $(basename "$bin") $* failed:" >&2
    tail -20 "$WORK/last.txt" >&2
  fi
  sed "s/^/$side $run /" "$WORK/last.txt" >>"$out"
}

relay='^BenchmarkRelay(SameCodec|Transcode)$'
for i in $(seq "$RUNS"); do
  bench "$WORK/relay.txt" old "$i" 300 "$OLDTREE/media" "$WORK/old-media.test" -test.bench "$relay" -test.benchmem -test.benchtime "$BENCHTIME"
  bench "$WORK/relay.txt" new "$i" 300 "$ROOT/media" "$WORK/new-media.test" -test.bench "$relay" -test.benchmem -test.benchtime "$BENCHTIME"
done
for i in $(seq "$RUNS"); do
  bench "$WORK/receive.txt" new "$i" 300 "$ROOT/media" "$WORK/new-media.test" -test.bench '^BenchmarkRelayReceivePath$' -test.benchmem -test.benchtime "$BENCHTIME"
done
for i in $(seq "$RUNS"); do
  bench "$WORK/join.txt" new "$i" 600 "$ROOT/b2b" "$WORK/new-b2b.test" -test.bench '^BenchmarkLocalJoin(SIPp)?$' -test.benchtime 1x
done

prodpairs() { # rev: pairs the duplicates tool lists over the non-test files
  local d
  d=$(mktemp -d "$WORK/dup.XXXXXX")
  git -C "$ROOT" archive "$1" | tar -x -C "$d"
  find "$d" -name '*_test.go' -delete
  timeout 120 duplicates --repo "$d" --most 200 --seconds 60 >"$d.out"
  all=$(head -1 "$d.out" | grep -o '^[0-9]*' || echo 0)
  # The same without the test-support packages (internal/peers drives
  # external phones for tests; switchboardtest is the public test kit).
  rm -rf "$d/internal/peers" "$d/switchboardtest"
  timeout 120 duplicates --repo "$d" --most 200 --seconds 60 >"$d.out"
  lib=$(head -1 "$d.out" | grep -o '^[0-9]*' || echo 0)
  echo "$all $lib"
}
read -r dupold dupoldlib < <(prodpairs "$OLD")
read -r dupnew dupnewlib < <(prodpairs HEAD)

# metric FILE SIDE NAME UNIT: the median of UNIT over the runs of benchmark
# NAME (GOMAXPROCS suffix dropped) on SIDE (old/new).
metric() {
  awk -v side="$2" -v name="$3" -v unit="$4" '
    $1 == side { b = $3; sub(/-[0-9]+$/, "", b); if (b != name) next
      for (i = 4; i < NF; i++) if ($(i+1) == unit) v[n++] = $i }
    END { if (n == 0) { print "-"; exit }
      for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
      print (n % 2) ? v[int(n/2)] : (v[n/2-1] + v[n/2]) / 2 }' "$1"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || a == 0) print "-"; else printf "%.2f", b / a }'; }

echo "### Relay per packet, $OLD vs HEAD (median of $RUNS interleaved runs)"
echo
echo "| benchmark | old ns/op | new ns/op | new/old | old B/op | new B/op | old allocs/op | new allocs/op |"
echo "|---|---|---|---|---|---|---|---|"
for b in BenchmarkRelaySameCodec/send BenchmarkRelaySameCodec/hold BenchmarkRelayTranscode/send BenchmarkRelayTranscode/hold; do
  o=$(metric "$WORK/relay.txt" old "$b" ns/op) n=$(metric "$WORK/relay.txt" new "$b" ns/op)
  echo "| $b | $o | $n | $(ratio "$o" "$n") | $(metric "$WORK/relay.txt" old "$b" B/op) | $(metric "$WORK/relay.txt" new "$b" B/op) |" \
    "$(metric "$WORK/relay.txt" old "$b" allocs/op) | $(metric "$WORK/relay.txt" new "$b" allocs/op) |"
done
echo
echo "### Receive path at HEAD (median of $RUNS runs; ratio against no observer)"
echo
echo "| case | ns/op | vs no observer | B/op | allocs/op |"
echo "|---|---|---|---|---|"
for hold in "" -hold; do
  base=$(metric "$WORK/receive.txt" new "BenchmarkRelayReceivePath/no-observer$hold" ns/op)
  for c in no-observer one-observer four-observers; do
    b=BenchmarkRelayReceivePath/$c$hold
    v=$(metric "$WORK/receive.txt" new "$b" ns/op)
    echo "| $c$hold | $v | $(ratio "$base" "$v") | $(metric "$WORK/receive.txt" new "$b" B/op) | $(metric "$WORK/receive.txt" new "$b" allocs/op) |"
  done
done
echo
echo "### Caller bridged into a local conference (median of $RUNS runs; spliced/relayed)"
echo
echo "| benchmark | metric | relayed | spliced | spliced/relayed |"
echo "|---|---|---|---|---|"
for m in "BenchmarkLocalJoin mouth-to-ear-ms" "BenchmarkLocalJoin median-mouth-to-ear-ms" "BenchmarkLocalJoin cpu%" "BenchmarkLocalJoinSIPp cpu%" "BenchmarkLocalJoinSIPp sockets/caller"; do
  set -- $m
  r=$(metric "$WORK/join.txt" new "$1/relayed" "$2") s=$(metric "$WORK/join.txt" new "$1/spliced" "$2")
  echo "| $1 | $2 | $r | $s | $(ratio "$r" "$s") |"
done
echo
echo "### duplicates over production code (no _test.go files)"
echo
echo "| tree | $OLD | HEAD | HEAD/$OLD |"
echo "|---|---|---|---|"
echo "| all non-test files | $dupold | $dupnew | $(ratio "$dupold" "$dupnew") |"
echo "| without internal/peers and switchboardtest | $dupoldlib | $dupnewlib | $(ratio "$dupoldlib" "$dupnewlib") |"
