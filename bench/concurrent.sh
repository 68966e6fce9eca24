#!/usr/bin/env bash
# Memory per call: CALLS concurrent established calls with G.711 RTP flowing
# both ways (SIPp streams, the echo app sends it back), then the server's
# RSS growth per call. CALLS=1000 RATE=200 HOLD=40 (seconds each call lasts).
# SERVICE=echo (default) or moh (the hold music: the server streams music,
# SIPp's RTP to it is dropped).
source "$(dirname "$0")/common.sh"
CALLS=${CALLS:-1000}; RATE=${RATE:-200}; HOLD=${HOLD:-40}; SERVICE=${SERVICE:-echo}
start_server
sleep 1
base=$(rss_kb "$SERVER_PID")
d="$WORK/conc"; mkdir -p "$d"; ln -sf "$WORK/tone.ulaw" "$d/tone.ulaw"
(cd "$d" && sipp -sf "$ROOT/bench/uac_media.xml" -d $((HOLD * 1000)) \
   -s "$SERVICE" -r "$RATE" -m "$CALLS" -l "$CALLS" -i 127.0.0.1 -p 6100 -mp 7100 -buff_size 4194304 \
   -nostdin -trace_stat -stf "$d/stat.csv" -fd 1 "127.0.0.1:$SIP_PORT" >"$d/out.txt" 2>&1) &
sipp_pid=$!
ramp=$(( CALLS / RATE + 5 ))
sleep "$ramp"
t0=$(cpu_ticks "$SERVER_PID"); s0=$(date +%s.%N)
sleep 5
t1=$(cpu_ticks "$SERVER_PID"); s1=$(date +%s.%N)
peak=$(rss_kb "$SERVER_PID")
threads=$(awk '/Threads/ {print $2}' "/proc/$SERVER_PID/status")
line=$(tail -n 1 "$d/stat.csv"); hdr=$(head -n 1 "$d/stat.csv")
col() { echo "$hdr" | tr ';' '\n' | grep -n -x "$1" | cut -d: -f1; }
current=$(echo "$line" | cut -d';' -f"$(col 'CurrentCall')")
cpu=$(awk -v a="$t0" -v b="$t1" -v s="$s0" -v e="$s1" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.0f", (b-a)/hz/(e-s)*100}')
echo "concurrent calls (SIPp CurrentCall): $current"
echo "server RSS: baseline ${base} KB, with calls ${peak} KB"
awk -v b="$base" -v p="$peak" -v n="$current" 'BEGIN{ if (n>0) printf "RSS per call: %.1f KB\n", (p-b)/n }'
echo "server CPU with RTP flowing: ${cpu}% of one core; OS threads: $threads"
wait "$sipp_pid" || true
line=$(tail -n 1 "$d/stat.csv")
echo "calls: successful $(echo "$line" | cut -d';' -f"$(col 'SuccessfulCall(C)')"), failed $(echo "$line" | cut -d';' -f"$(col 'FailedCall(C)')")"
