#!/usr/bin/env bash
# Soak (issue 15 item 7): `switchboard serve` on its embedded config (plus
# loopback ports, one b2b route, the admin API for /metrics) under a steady
# mix of calls with G.711 media both ways for DURATION, then checks that no
# call failed and that goroutines, open FDs and RSS came back to their
# baseline once the calls are gone. The mix, RATE/5 calls/s each, every call
# streaming tone.ulaw (SIPp rtp_stream) for HOLD_MS:
#   echo       "$ROOT/bench/uac_media.xml" to sip:echo@ (the app echoes the audio)
#   music      "$ROOT/bench/uac_media.xml" to sip:moh@ (the embedded MP3)
#   conference "$ROOT/bench/uac_media.xml" to sip:conf-soak@ (RATE/5 * HOLD_MS/1000 in it at once)
#   route      "$ROOT/bench/uac_media.xml" to sip:svc-soak@, a b2b route to a SIPp UAS that
#              streams back (uas_media.xml): the relay in both directions
#   park       "$ROOT/bench/uac_park.xml" parks itself on orbit N (sip:park-N@, 7000-7099 in
#              turn) and streams until the server hangs it up; PARK_LAG s
#              later "$ROOT/bench/uac_retrieve.xml" dials sip:N@, talks HOLD_MS and hangs up
#              (so park calls last PARK_LAG + HOLD_MS and count twice)
# Baseline: after a warm-up call of each kind and SETTLE s; the end figures
# after the last call and SETTLE s (T1 is 100 ms, so ended transactions
# expire after 6.4 s). Asserts: zero failed calls (every SIPp exits 0 with
# all its calls successful), goroutines <= baseline + G_TOL (5), FDs <=
# baseline + FD_TOL (2), RSS <= baseline + RSS_TOL_MB (48; the Go runtime
# returns freed heap to the kernel lazily, so RSS is the loosest figure;
# heap in use is printed next to it). A figures table is printed, and a
# timeline (every SAMPLE s) is kept in the work directory.
#
# RATE defaults to 10 calls/s in all (about 50 calls up at once with
# media). The issue asks for half the highest zero-failure rate of this mix;
# that rate has not been measured on the shared 2-core machine yet (see
# bench/README.md, "Soak"): set RATE to half of it where it has. Knobs:
# DURATION (30m; s/m/h suffix), RATE (10), HOLD_MS (4000), PARK_LAG (2),
# SETTLE (10), SAMPLE (10), SB_PORT (5400), ADMIN_PORT (8490), UAS_PORT
# (5401), SIPP_BASE (5410), MEDIA_BASE (42000), RTP_MIN (30000); KEEP=1 keeps the work directory. Loopback only; bounded; stops
# only the processes it started, by PID. Exit status 0 only if every check
# passed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION=${DURATION:-30m}
RATE=${RATE:-10}
HOLD_MS=${HOLD_MS:-4000}
PARK_LAG=${PARK_LAG:-2}
SETTLE=${SETTLE:-10}
SAMPLE=${SAMPLE:-10}
SB_PORT=${SB_PORT:-5400}
UAS_PORT=${UAS_PORT:-5401}
ADMIN_PORT=${ADMIN_PORT:-8490}
SIPP_BASE=${SIPP_BASE:-5410}   # the six SIPp UACs' SIP ports, from here up
MEDIA_BASE=${MEDIA_BASE:-42000} # their media ports, 1000 apart from here up
RTP_MIN=${RTP_MIN:-30000}      # the server's RTP port range
G_TOL=${G_TOL:-5}
FD_TOL=${FD_TOL:-2}
RSS_TOL_MB=${RSS_TOL_MB:-48}

case "$DURATION" in
  *h) SECS=$(( ${DURATION%h} * 3600 )) ;;
  *m) SECS=$(( ${DURATION%m} * 60 )) ;;
  *s) SECS=${DURATION%s} ;;
  *) SECS=$DURATION ;;
esac
PER=$(awk -v r="$RATE" 'BEGIN{printf "%.3f", r/5}') # calls/s of each kind
# SIPp rates are integers per -rp period: RATE/5 calls per second as
# (RATE) calls per 5 s.
SIPP_RATE=(-r "$RATE" -rp 5000)
N=$(awk -v r="$RATE" -v s="$SECS" 'BEGIN{n=int(r*s/5); print (n<1?1:n)}') # calls of each kind
if awk -v p="$PER" -v l="$PARK_LAG" -v h="$HOLD_MS" 'BEGIN{exit !(p*(l+h/1000+2) >= 100)}'; then
  echo "RATE $RATE is too high for 100 orbits with PARK_LAG $PARK_LAG and HOLD_MS $HOLD_MS"; exit 2
fi
for b in sipp sox curl; do
  command -v "$b" >/dev/null || { echo "$b missing: scripts/test installs sip-tester, sox and curl"; exit 2; }
done
udp_busy() { grep -q ":$(printf '%04X' "$1") " /proc/net/udp 2>/dev/null; }
tcp_busy() { grep -q ":$(printf '%04X' "$1") 00000000:0000 0A" /proc/net/tcp 2>/dev/null; }
for p in "$SB_PORT" "$UAS_PORT" $(seq "$SIPP_BASE" $((SIPP_BASE + 5))); do udp_busy "$p" && { echo "UDP port $p is taken: set SB_PORT/UAS_PORT"; exit 2; }; done
tcp_busy "$ADMIN_PORT" && { echo "TCP port $ADMIN_PORT is taken: set ADMIN_PORT"; exit 2; }

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  # TERM, then KILL after 5 s: a server interrupted with calls up would
  # drain for its drain_timeout.
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 50); do
    alive=0; for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break; sleep 0.1
  done
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  if [ -n "${KEEP:-}" ]; then echo "work directory: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

(cd "$ROOT" && go build -o "$WORK/switchboard" ./cmd/switchboard)
sox -n -r 8000 -c 1 -t ul "$WORK/tone.ulaw" synth 10 sine 440 vol 0.3
mkdir -p "$WORK/recs" "$WORK/msgs"
# Conference participants need a From of their own (the same user twice in
# one conference gets 486).
sed 's/sip:sipp@/sip:sipp-[call_number]@/g' "$ROOT/bench/uac_media.xml" > "$WORK/uac_conf.xml"
{ echo SEQUENTIAL; for o in $(seq 7000 7099); do echo "$o;"; done; } > "$WORK/orbits.csv"
cat > "$WORK/soak.yaml" <<YAML
platform:
  udp: ["127.0.0.1:$SB_PORT"]
  tcp: []
  rtp_port_min: $RTP_MIN
  rtp_port_max: $((RTP_MIN + 9998))
  t1: 100ms
admin:
  listen: "127.0.0.1:$ADMIN_PORT"
log:
  level: warn
apps:
  recording: {dir: "$WORK/recs"}
  ivr: {message_dir: "$WORK/msgs"}
routes:
  - {name: soak, prefix: svc-, target: 'sip:\${user}@127.0.0.1:$UAS_PORT'}
YAML
(cd "$WORK" && exec "$WORK/switchboard" serve -config "$WORK/soak.yaml" 2>"$WORK/server.log") &
SERVER=$!; PIDS+=($SERVER)
for _ in $(seq 200); do udp_busy "$SB_PORT" && tcp_busy "$ADMIN_PORT" && break; sleep 0.05; done
udp_busy "$SB_PORT" || { echo "server did not start"; cat "$WORK/server.log"; exit 1; }
(cd "$WORK" && exec sipp -sf "$ROOT/bench/uas_media.xml" -i 127.0.0.1 -p "$UAS_PORT" -mp $((MEDIA_BASE - 1000)) \
  -nostdin -trace_err -error_file "$WORK/uas-errors.log" >"$WORK/uas.out" 2>&1) &
PIDS+=($!)
for _ in $(seq 200); do udp_busy "$UAS_PORT" && break; sleep 0.05; done

metric() { curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | awk -v m="$1" '$1 == m {printf "%d", $2}'; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$SERVER/status"; }
fds() { ls "/proc/$SERVER/fd" | wc -l; }
threads() { awk '/Threads/ {print $2}' "/proc/$SERVER/status"; }
snapshot() { # goroutines fds rss_kb heap_inuse_kb threads
  echo "$(metric go_goroutines) $(fds) $(rss_kb) $(( $(metric go_memstats_heap_inuse_bytes) / 1024 )) $(threads)"
}

# run KIND SCENARIO SERVICE CALLS PORT [extra sipp args]: one SIPp UAC.
run() {
  local kind=$1 sf=$2 svc=$3 calls=$4 port=$5; shift 5
  mkdir -p "$WORK/$kind"; ln -sf "$WORK/tone.ulaw" "$WORK/$kind/tone.ulaw"
  (cd "$WORK/$kind" && timeout $(( SECS * 2 + 120 )) sipp -sf "$sf" -s "$svc" -m "$calls" \
    -i 127.0.0.1 -p "$port" -mp $(( MEDIA_BASE + (port - SIPP_BASE) * 1000 )) -l 2000 -buff_size 4194304 \
    -nostdin -trace_stat -stf "$WORK/$kind/stat.csv" -fd 1 -trace_err -error_file "$WORK/$kind/errors.log" \
    "$@" "127.0.0.1:$SB_PORT" >"$WORK/$kind/out.txt" 2>&1; echo $? > "$WORK/$kind/rc")
}
# mix CALLS PREFIX RATE-ARGS...: every kind once, park and retrieve PARK_LAG apart.
mix() {
  local calls=$1 pre=$2; shift 2
  local w=()
  run "${pre}echo" "$ROOT/bench/uac_media.xml" echo "$calls" $((SIPP_BASE + 0)) -d "$HOLD_MS" "$@" & w+=($!)
  run "${pre}music" "$ROOT/bench/uac_media.xml" moh "$calls" $((SIPP_BASE + 1)) -d "$HOLD_MS" "$@" & w+=($!)
  run "${pre}conference" "$WORK/uac_conf.xml" conf-soak "$calls" $((SIPP_BASE + 2)) -d "$HOLD_MS" "$@" & w+=($!)
  run "${pre}route" "$ROOT/bench/uac_media.xml" svc-soak "$calls" $((SIPP_BASE + 3)) -d "$HOLD_MS" "$@" & w+=($!)
  run "${pre}park" "$ROOT/bench/uac_park.xml" park "$calls" $((SIPP_BASE + 4)) -inf "$WORK/orbits.csv" "$@" & w+=($!)
  (sleep "$PARK_LAG"; run "${pre}retrieve" "$ROOT/bench/uac_retrieve.xml" x "$calls" $((SIPP_BASE + 5)) -inf "$WORK/orbits.csv" -d "$HOLD_MS" "$@") & w+=($!)
  wait "${w[@]}" # not a bare wait: the server and the UAS are children too
}
calls_of() { # ok failed of one SIPp run
  local d="$WORK/$1" hdr line col
  [ -s "$d/stat.csv" ] || { echo "0 0"; return; }
  hdr=$(head -n 1 "$d/stat.csv"); line=$(tail -n 1 "$d/stat.csv")
  col() { echo "$hdr" | tr ';' '\n' | grep -n -x "$1" | cut -d: -f1; }
  echo "$(echo "$line" | cut -d';' -f"$(col 'SuccessfulCall(C)')") $(echo "$line" | cut -d';' -f"$(col 'FailedCall(C)')")"
}

KINDS="echo music conference route park retrieve"
echo "soak: $DURATION ($SECS s) at $RATE calls/s ($PER/s each of echo, music, conference, route, park+retrieve), calls of ${HOLD_MS} ms with media"
mix 1 warm- -r 1
sleep "$SETTLE"
read -r g0 f0 r0 h0 t0 < <(snapshot)
start=$(date +%s)
mix "$N" "" "${SIPP_RATE[@]}" &
MIX=$!
echo "t_s goroutines fds rss_kb heap_inuse_kb threads" > "$WORK/timeline.txt"
pg=0 pf=0 pr=0
while kill -0 "$MIX" 2>/dev/null; do
  read -r g f r h th < <(snapshot) || true
  echo "$(( $(date +%s) - start )) $g $f $r $h $th" >> "$WORK/timeline.txt"
  [ "${g:-0}" -gt "$pg" ] && pg=$g; [ "${f:-0}" -gt "$pf" ] && pf=$f; [ "${r:-0}" -gt "$pr" ] && pr=$r
  for _ in $(seq "$SAMPLE"); do kill -0 "$MIX" 2>/dev/null || break; sleep 1; done
done
wait "$MIX" || true
wall=$(( $(date +%s) - start ))
# The end figures: the first sample within SETTLE*3 s at or under the
# tolerance, else the last one.
for i in $(seq 3); do
  sleep "$SETTLE"
  read -r g1 f1 r1 h1 t1 < <(snapshot)
  [ "$g1" -le $(( g0 + G_TOL )) ] && [ "$f1" -le $(( f0 + FD_TOL )) ] && [ "$r1" -le $(( r0 + RSS_TOL_MB * 1024 )) ] && break
done

fail=0
echo
printf "%-11s %8s %8s %8s\n" kind calls ok failed
tot=0 totok=0 totf=0
for k in $KINDS; do
  read -r ok failed < <(calls_of "$k")
  rc=$(cat "$WORK/$k/rc" 2>/dev/null || echo "?")
  printf "%-11s %8d %8d %8d%s\n" "$k" "$N" "$ok" "$failed" "$([ "$rc" = 0 ] || echo "  (sipp exit $rc)")"
  tot=$((tot + N)) totok=$((totok + ok)) totf=$((totf + failed))
  if [ "$rc" != 0 ] || [ "$ok" != "$N" ]; then fail=1; fi
done
printf "%-11s %8d %8d %8d\n" total "$tot" "$totok" "$totf"
echo
printf "%-16s %10s %10s %10s %s\n" figure start peak end check
check() { # name start peak end limit
  local v="ok"; [ "$4" -le "$5" ] || { v="FAIL (limit $5)"; fail=1; }
  printf "%-16s %10s %10s %10s %s\n" "$1" "$2" "$3" "$4" "$v (<= $5)"
}
check goroutines "$g0" "$pg" "$g1" $(( g0 + G_TOL ))
check fds "$f0" "$pf" "$f1" $(( f0 + FD_TOL ))
check rss_kb "$r0" "$pr" "$r1" $(( r0 + RSS_TOL_MB * 1024 ))
printf "%-16s %10s %10s %10s\n" heap_inuse_kb "$h0" "-" "$h1"
printf "%-16s %10s %10s %10s\n" threads "$t0" "-" "$t1"
echo "wall ${wall} s for the calls; server CPU $(awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f s", ($14+$15)/hz}' "/proc/$SERVER/stat")"
if [ -s "$WORK/server.log" ]; then echo "server log (warnings and errors), last lines:"; tail -n 5 "$WORK/server.log"; fi
for k in $KINDS; do
  if [ -s "$WORK/$k/errors.log" ] && [ "$fail" = 1 ]; then echo "$k errors:"; head -n 20 "$WORK/$k/errors.log"; fi
done
[ "$fail" = 0 ] && echo "PASS" || echo "FAIL"
exit "$fail"
