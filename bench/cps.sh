#!/usr/bin/env bash
# Calls per second: SIPp UACs against `switchboard serve` (echo app) at
# stepped rates. Each step runs RATE*SECONDS calls; a step is clean when no
# call failed. Prints, per step: successful/failed calls, p50/p99 setup
# time (INVITE → 200, SIPp's response-time measurement), server CPU.
#   MODE=media (default) streams 200 ms of G.711 RTP in each call;
#   MODE=nomedia is the stock uac (answer, BYE).
#   RATES="200 400 ..." SECONDS_PER_STEP=10 INSTANCES=2
source "$(dirname "$0")/common.sh"
MODE=${MODE:-media}
RATES=${RATES:-"200 400 600 800 1000 1200 1400"}
SECS=${SECONDS_PER_STEP:-10}
INSTANCES=${INSTANCES:-2}
start_server
best=0
printf "%-6s %-8s %-10s %-8s %-8s %-8s %-10s\n" rate mode ok failed p50ms p99ms cpu%
for rate in $RATES; do
  per=$((rate / INSTANCES)); calls=$((per * SECS))
  t0=$(cpu_ticks "$SERVER_PID"); s0=$(date +%s.%N)
  pids=()
  for i in $(seq "$INSTANCES"); do
    d="$WORK/step-$rate-$i"; mkdir -p "$d"; ln -sf "$WORK/tone.ulaw" "$d/tone.ulaw"
    args=(-s echo -r "$per" -m "$calls" -l $((per * 3)) -i 127.0.0.1 -p $((6000 + i * 10)) -mp $((7000 + i * 100))
          -buff_size 4194304 -nostdin -trace_stat -stf "$d/stat.csv" -trace_rtt -rtt_freq 1 -timeout $((SECS * 4))s)
    if [ "$MODE" = media ]; then
      args+=(-sf "$ROOT/bench/uac_media.xml" -d 200)
    else
      args+=(-sn uac)
    fi
    (cd "$d" && sipp "${args[@]}" "127.0.0.1:$SIP_PORT" >"$d/out.txt" 2>&1) &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || true; done
  t1=$(cpu_ticks "$SERVER_PID"); s1=$(date +%s.%N)
  ok=0; failed=0
  for i in $(seq "$INSTANCES"); do
    d="$WORK/step-$rate-$i"
    line=$(tail -n 1 "$d/stat.csv")
    hdr=$(head -n 1 "$d/stat.csv")
    col() { echo "$hdr" | tr ';' '\n' | grep -n -x "$1" | cut -d: -f1; }
    ok=$((ok + $(echo "$line" | cut -d';' -f"$(col 'SuccessfulCall(C)')")))
    failed=$((failed + $(echo "$line" | cut -d';' -f"$(col 'FailedCall(C)')")))
  done
  cat "$WORK"/step-$rate-*/*_rtt.csv 2>/dev/null | grep -v '^Date' | cut -d';' -f2 | sort -n > "$WORK/rtt-$rate"
  n=$(wc -l < "$WORK/rtt-$rate")
  p50=$(awk -v n="$n" 'NR==int(n*0.50)+1' "$WORK/rtt-$rate")
  p99=$(awk -v n="$n" 'NR==int(n*0.99)+1' "$WORK/rtt-$rate")
  cpu=$(awk -v a="$t0" -v b="$t1" -v s="$s0" -v e="$s1" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.0f", (b-a)/hz/(e-s)*100}')
  [ "${p50:-}" = 0 ] && p50="<1"; [ "${p99:-}" = 0 ] && p99="<1"
  printf "%-6s %-8s %-10s %-8s %-8s %-8s %-10s\n" "$rate" "$MODE" "$ok" "$failed" "${p50:-?}" "${p99:-?}" "$cpu"
  if [ "$failed" -eq 0 ] && [ "$ok" -eq $((calls * INSTANCES)) ]; then best=$rate; else break; fi
  sleep 2
done
echo "highest rate with zero failed calls: $best calls/s ($MODE)"
