#!/usr/bin/env bash
# Several nodes (issue 17), loopback only, bounded, and it stops only the
# processes it started (by PID):
#   1. park allocation latency p50/p99, Redis store vs memory store
#      (BenchmarkAllocate in apps/park/redisstore, ALLOC_N iterations);
#   2. calls/s through Kamailio (deploy/kamailio/kamailio.cfg, as in the
#      repo) to 1, 2 and 3 `switchboard serve` nodes on 127.0.0.2-4 sharing
#      one redis-server: RATE calls/s of SIPp's stock uac to sip:echo@ for
#      SECS seconds per step; ok/failed, and CPU per call per node (node
#      CPU time / the calls Kamailio sent it). On 2 cores the total cannot
#      scale; the per-node cost per call should stay flat;
#   3. failover after kill -9: with 3 nodes and RATE calls/s running, node-1
#      is killed; how long until Kamailio marks it down, and the calls that
#      failed (those it held, and any sent to it before Kamailio noticed).
# Knobs: RATE (100), SECS (10), ALLOC_N (3000), SIP_PORT (5094, on every
# node address), KAM_PORT (5095), REDIS_PORT (6395). KEEP=1 keeps the work
# directory.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RATE=${RATE:-100}
SECS=${SECS:-10}
ALLOC_N=${ALLOC_N:-3000}
SIP_PORT=${SIP_PORT:-5094}
KAM_PORT=${KAM_PORT:-5095}
REDIS_PORT=${REDIS_PORT:-6395}
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill -TERM "$p" 2>/dev/null || true; done
  sleep 1
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] && echo "work directory: $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
for b in kamailio redis-server sipp; do
  command -v "$b" >/dev/null || { echo "$b missing: run scripts/test (it installs kamailio, redis-server, sip-tester)"; exit 1; }
done
udp_busy() { grep -q ":$(printf '%04X' "$1") " /proc/net/udp 2>/dev/null; }
for p in "$SIP_PORT" "$KAM_PORT"; do udp_busy "$p" && { echo "UDP port $p is taken: set SIP_PORT/KAM_PORT"; exit 1; }; done
grep -q ":$(printf '%04X' "$REDIS_PORT") " /proc/net/tcp && { echo "TCP port $REDIS_PORT is taken: set REDIS_PORT"; exit 1; }
HZ=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

echo "## 1. Park allocation (Allocate+Claim), memory vs Redis store"
(cd "$ROOT" && go test -run '^$' -bench 'Allocate' -benchtime "${ALLOC_N}x" ./apps/park/redisstore/) |
  awk '/^Benchmark/ {printf "%-32s %12s ns/op  p50 %8.1f µs  p99 %8.1f µs\n", $1, $3, $5/1000, $7/1000}'

(cd "$ROOT" && go build -o "$WORK/switchboard" ./cmd/switchboard)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q ":$(printf '%04X' "$REDIS_PORT") " /proc/net/tcp && break; sleep 0.05; done

declare -A NODE_PID
start_node() { # $1 = 1..3
  local i=$1 ip="127.0.0.$(( $1 + 1 ))" d="$WORK/node-$1"
  mkdir -p "$d/recs" "$d/msgs"
  cat > "$d/sb.yaml" <<YAML
platform:
  udp: ["$ip:$SIP_PORT"]
  tcp: []
  host: "$ip"
  domains: ["127.0.0.1"]
  media_ip: "$ip"
  rtp_port_min: 20000
  rtp_port_max: 39998
  trusted_peers: ["127.0.0.0/8"]
admin:
  listen: ""
log:
  level: warn
apps:
  park:
    store: redis://127.0.0.1:$REDIS_PORT/0
    node: node-$i
  recording:
    dir: $d/recs
  ivr:
    message_dir: $d/msgs
YAML
  (cd "$d" && exec "$WORK/switchboard" serve -config "$d/sb.yaml" 2>"$d/log") &
  NODE_PID[$i]=$!; PIDS+=($!)
  for _ in $(seq 200); do
    grep -q "$(printf '%02X%02X%02X%02X:%04X' "$(( $1 + 1 ))" 0 0 127 "$SIP_PORT")" /proc/net/udp && return 0
    sleep 0.05
  done
  echo "node-$i did not start"; cat "$d/log"; exit 1
}
KAM_PID=
start_kamailio() { # $1 = number of nodes in the set
  [ -n "$KAM_PID" ] && { kill -TERM "$KAM_PID"; wait "$KAM_PID" 2>/dev/null || true; }
  local d="$WORK/kamailio"; mkdir -p "$d"
  : > "$d/dispatcher.list"
  for i in $(seq "$1"); do echo "1 sip:127.0.0.$((i + 1)):$SIP_PORT" >> "$d/dispatcher.list"; done
  kamailio -f "$ROOT/deploy/kamailio/kamailio.cfg" -DD -E -Y "$d" -m 64 -M 8 \
    -A "LISTEN=udp:127.0.0.1:$KAM_PORT" -A "DISPATCHER_LIST=\"$d/dispatcher.list\"" \
    -A PING_INTERVAL=1 -A FR_TIMER=1000 >"$d/log-$1" 2>&1 &
  KAM_PID=$!; PIDS+=($!)
  for _ in $(seq 200); do udp_busy "$KAM_PORT" && return 0; sleep 0.05; done
  echo "kamailio did not start"; cat "$d/log-$1"; exit 1
}
run_sipp() { # $1 = label, $2 = calls; prints "ok failed"
  local d="$WORK/sipp-$1"; mkdir -p "$d"
  (cd "$d" && timeout $((SECS * 4 + 30)) sipp -sf "$ROOT/bench/uac_rr.xml" -d 500 -s echo -r "$RATE" -m "$2" -l $((RATE * 3)) -i 127.0.0.1 \
     -p "$((KAM_PORT + 10))" -nostdin -trace_stat -stf "$d/stat.csv" -timeout $((SECS * 4))s \
     "127.0.0.1:$KAM_PORT" >"$d/out.txt" 2>&1) || true
  local hdr line
  hdr=$(head -n 1 "$d/stat.csv"); line=$(tail -n 1 "$d/stat.csv")
  col() { echo "$hdr" | tr ';' '\n' | grep -n -x "$1" | cut -d: -f1; }
  echo "$(echo "$line" | cut -d';' -f"$(col 'SuccessfulCall(C)')") $(echo "$line" | cut -d';' -f"$(col 'FailedCall(C)')")"
}
landed() { # $1 = kamailio log, $2 = node index
  grep -c "INVITE sip:echo@127.0.0.1:$KAM_PORT to sip:127.0.0.$(( $2 + 1 )):$SIP_PORT " "$1" || true
}

for i in 1 2 3; do start_node "$i"; done
echo
echo "## 2. Calls/s through Kamailio: $RATE calls/s for $SECS s per step (bench/uac_rr.xml, 0.5 s calls to sip:echo@)"
printf "%-6s %-7s %-7s %-9s %s\n" nodes ok failed wall_s "per node: calls, % core, µs CPU per call"
for n in 1 2 3; do
  start_kamailio "$n"
  declare -A t0
  for i in 1 2 3; do t0[$i]=$(cpu_ticks "${NODE_PID[$i]}"); done
  s0=$(date +%s.%N)
  read -r ok failed < <(run_sipp "n$n" $((RATE * SECS)))
  s1=$(date +%s.%N)
  wall=$(awk -v a="$s0" -v b="$s1" 'BEGIN{printf "%.1f", b-a}')
  per=""
  for i in $(seq "$n"); do
    t1=$(cpu_ticks "${NODE_PID[$i]}")
    c=$(landed "$WORK/kamailio/log-$n" "$i")
    per+=$(awk -v a="${t0[$i]}" -v b="$t1" -v hz="$HZ" -v w="$wall" -v c="$c" -v i="$i" \
      'BEGIN{cpu=(b-a)/hz; printf " node-%d: %d, %.1f%%, %.0f µs;", i, c, cpu/w*100, (c>0?cpu/c*1e6:0)}')
  done
  printf "%-6s %-7s %-7s %-9s %s\n" "$n" "$ok" "$failed" "$wall" "$per"
done

echo
echo "## 3. Failover: kill -9 of node-1 under $RATE calls/s through Kamailio (3 nodes, pings 1 s, fr_timer 1 s)"
start_kamailio 3
KLOG="$WORK/kamailio/log-3"
d="$WORK/sipp-failover"; mkdir -p "$d"
(cd "$d" && timeout $((SECS * 4 + 30)) sipp -sf "$ROOT/bench/uac_rr.xml" -d 500 -s echo -r "$RATE" -m $((RATE * SECS)) -l $((RATE * 3)) -i 127.0.0.1 \
   -p "$((KAM_PORT + 10))" -nostdin -trace_stat -stf "$d/stat.csv" -timeout $((SECS * 4))s \
   "127.0.0.1:$KAM_PORT" >"$d/out.txt" 2>&1) &
SIPP_PID=$!; PIDS+=($!)
sleep $((SECS / 3 + 1))
before=$(wc -c < "$KLOG")
k0=$(date +%s%N)
kill -KILL "${NODE_PID[1]}"
noticed=""
for _ in $(seq 1000); do
  if tail -c +"$before" "$KLOG" | grep -q -e "node down: sip:127.0.0.2:$SIP_PORT" -e "node sip:127.0.0.2:$SIP_PORT silent"; then
    noticed=$(( ($(date +%s%N) - k0) / 1000000 )); break
  fi
  sleep 0.01
done
wait "$SIPP_PID" || true
hdr=$(head -n 1 "$d/stat.csv"); line=$(tail -n 1 "$d/stat.csv")
col() { echo "$hdr" | tr ';' '\n' | grep -n -x "$1" | cut -d: -f1; }
ok=$(echo "$line" | cut -d';' -f"$(col 'SuccessfulCall(C)')"); failed=$(echo "$line" | cut -d';' -f"$(col 'FailedCall(C)')")
echo "Kamailio marked node-1 down ${noticed:-?} ms after kill -9; calls: $ok ok, $failed failed (of $((RATE * SECS)))"
tail -c +"$before" "$KLOG" | grep -m 3 -e "switchboard-front: node" -e "failed over" | sed 's/^.*switchboard-front: /  kamailio: /' || true
