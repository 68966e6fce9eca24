#!/usr/bin/env bash
# Memory after a burst (issue 16 item 4): CALLS short calls (200 ms of
# G.711 each way, echo app) at RATE calls/s from two SIPp instances, then
# the server's RSS every 5 s for IDLE seconds. Prints idle, peak and
# final RSS and fails when the final RSS is above twice the idle one.
#   CALLS=30000 RATE=1000 IDLE=60
source "$(dirname "$0")/common.sh"
CALLS=${CALLS:-30000}; RATE=${RATE:-1000}; IDLE=${IDLE:-60}
start_server
sleep 2
idle=$(rss_kb "$SERVER_PID")
per=$((RATE / 2)); calls=$((CALLS / 2))
pids=()
for i in 1 2; do
  d="$WORK/burst-$i"; mkdir -p "$d"; ln -sf "$WORK/tone.ulaw" "$d/tone.ulaw"
  (cd "$d" && exec sipp -sf "$ROOT/bench/uac_media.xml" -d 200 -s echo -r "$per" -m "$calls" -l $((per * 3)) \
     -i 127.0.0.1 -p $((6000 + i * 10)) -mp $((7000 + i * 100)) -buff_size 4194304 -nostdin \
     -trace_stat -stf "$d/stat.csv" -timeout $((CALLS / RATE * 4 + 30))s "127.0.0.1:$SIP_PORT" >"$d/out.txt" 2>&1) &
  pids+=($!)
done
peak=$idle
while kill -0 "${pids[0]}" 2>/dev/null || kill -0 "${pids[1]}" 2>/dev/null; do
  r=$(rss_kb "$SERVER_PID"); [ "$r" -gt "$peak" ] && peak=$r
  sleep 1
done
for p in "${pids[@]}"; do wait "$p" || true; done
ok=0; failed=0
for i in 1 2; do
  d="$WORK/burst-$i"; line=$(tail -n 1 "$d/stat.csv"); hdr=$(head -n 1 "$d/stat.csv")
  col() { echo "$hdr" | tr ';' '\n' | grep -n -x "$1" | cut -d: -f1; }
  ok=$((ok + $(echo "$line" | cut -d';' -f"$(col 'SuccessfulCall(C)')")))
  failed=$((failed + $(echo "$line" | cut -d';' -f"$(col 'FailedCall(C)')")))
done
echo "burst: $ok calls succeeded, $failed failed, at $RATE calls/s"
printf "RSS idle %d KB, peak %d KB\n" "$idle" "$peak"
for t in $(seq 5 5 "$IDLE"); do
  sleep 5
  printf "  +%3ds after the burst: %d KB\n" "$t" "$(rss_kb "$SERVER_PID")"
done
final=$(rss_kb "$SERVER_PID")
awk -v f="$final" -v i="$idle" 'BEGIN{ printf "final/idle: %.2f (limit 2.00)\n", f/i; exit (f > 2*i) }'
