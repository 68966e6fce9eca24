#!/usr/bin/env bash
# Cost of recording relayed calls: recorder's BenchmarkRelayedRecordings
# at CALLS (200) concurrent relayed calls (PCMU | relay | PCMA, G.711 both
# ways on loopback), each phase REC_SECONDS (3) unrecorded then recorded
# in stereo, with the default 1 s sync (WAV header rewrite + fsync) and
# with REC_SYNC=1h (no sync during the run), REPS (3) times interleaved.
# Prints a Markdown table of the medians. Each run is bounded by
# RUN_TIMEOUT (120 s); the benchmark itself fails when a recorded call
# costs twice an unrecorded one or more, and so does this script.
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${CALLS:-200}
REPS=${REPS:-3}
REC_SECONDS=${REC_SECONDS:-3}
RUN_TIMEOUT=${RUN_TIMEOUT:-120}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

go test -c -o "$WORK/recorder.test" ./recorder/

failed=0
for rep in $(seq "$REPS"); do
  for sync in 1s 1h; do
    out="$WORK/run-$sync-$rep.txt"
    # timeout kills the one test binary it started, if it overruns.
    if ! REC_CALLS=$CALLS REC_SECONDS=$REC_SECONDS REC_SYNC=$sync TMPDIR="$WORK" \
        timeout "$RUN_TIMEOUT" "$WORK/recorder.test" -test.run '^$' \
        -test.bench '^BenchmarkRelayedRecordings$' -test.benchtime 1x >"$out" 2>&1; then
      echo "run $rep, sync $sync failed:" >&2
      grep -v '^goos\|^goarch\|^pkg\|^cpu' "$out" >&2 || true
      failed=1
      continue
    fi
    # "value unit" pairs of the benchmark line, one "sync unit value" a line.
    awk -v sync="$sync" '/^BenchmarkRelayedRecordings/ {
      for (i = 3; i < NF; i += 2) print sync, $(i+1), $i
    }' "$out" >>"$WORK/metrics.txt"
    echo "run $rep, sync $sync: $(grep -o '[0-9.]* recorded/unrecorded' "$out")" >&2
  done
done

median() { # sync unit
  awk -v s="$1" -v u="$2" '$1 == s && $2 == u {print $3}' "$WORK/metrics.txt" 2>/dev/null |
    sort -g | awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2] + v[NR/2+1]) / 2}'
}

echo
echo "$CALLS relayed calls, stereo PCM16 recordings, medians of $REPS runs ($(nproc) cores, $(date +%F), load average $(cut -d' ' -f1-3 /proc/loadavg)):"
echo
echo "| sync | % core/call unrecorded | % core/call recorded | recorded/unrecorded | bytes/s written | allocs/frame |"
echo "|---|---|---|---|---|---|"
for sync in 1s 1h; do
  printf '| %s | %.3f | %.3f | %.2f | %.0f | %.3f |\n' "$sync" \
    "$(median $sync %core/call-unrecorded)" "$(median $sync %core/call-recorded)" \
    "$(median $sync recorded/unrecorded)" "$(median $sync B/s-written)" "$(median $sync allocs/frame)"
done
exit $failed
