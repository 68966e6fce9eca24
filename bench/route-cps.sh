#!/usr/bin/env bash
# Calls per second through a back-to-back route, side by side with
# Kamailio's stateful proxy on the same scenario, in one run:
#   SIPp UAC (stock uac, no media) → switchboard route (b2b: two dialogs,
#   SDP answered, RTP sockets allocated, nothing relayed) → SIPp UAS
#   (bench/uas_answer.xml: 200 at once, tolerant of ACK/BYE reordering)
#   SIPp UAC (same)                → Kamailio 5.6 (tm: every request t_relay'd) → SIPp UAS
# (SIPp's stock uac ignores Record-Route and sends ACK and BYE to the proxy,
# as to the B2BUA, so Kamailio relays in-dialog requests to the UAS too.)
# Rates step up interleaved (switchboard, then Kamailio, at each rate) so
# both see the same machine load; a system's ladder stops at its first step
# that is not clean: a failed or missing call, or a rate achieved below 95 %
# of the rate asked for. Per step: calls ok/failed, SIPp
# retransmissions, the step's wall time and the rate achieved (calls ok /
# wall time: an overloaded system stretches the step), the CPU of the system
# under test averaged over the step (all its processes; SIPp's own CPU is
# not counted) and its CPU per 1,000 calls/s: CPU seconds spent per 1,000
# calls, which is the share of a core that 1,000 calls/s would take.
# Then GET /api/v1/calls latency with CALLS_LIVE (1000) live echo calls.
#   RATES="250 500 ..." SECONDS_PER_STEP=10 CALLS_LIVE=1000 GETS=200
# Loopback only; every process it starts is stopped by its PID.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/bench/results}
RATES=${RATES:-"250 500 750 1000 1250 1500 2000"}
SECS=${SECONDS_PER_STEP:-10}
CALLS_LIVE=${CALLS_LIVE:-1000}
GETS=${GETS:-200}
SB_PORT=${SB_PORT:-5180}      # switchboard
KAM_PORT=${KAM_PORT:-5190}    # kamailio
UAS_SB=${UAS_SB:-5191}        # SIPp UAS behind switchboard
UAS_KAM=${UAS_KAM:-5192}      # SIPp UAS behind kamailio
ADMIN_PORT=${ADMIN_PORT:-8189}
mkdir -p "$OUT"
need=()
command -v sipp >/dev/null || need+=(sip-tester)
command -v kamailio >/dev/null || need+=(kamailio)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
udp_listening() { grep -q ":$(printf '%04X' "$1") " /proc/net/udp 2>/dev/null; }
for p in $SB_PORT $KAM_PORT $UAS_SB $UAS_KAM; do
  if udp_listening "$p"; then echo "UDP port $p is in use: set SB_PORT/KAM_PORT/UAS_SB/UAS_KAM"; exit 1; fi
done
wait_udp() { for _ in $(seq 100); do udp_listening "$1" && return 0; sleep 0.05; done; echo "nothing listens on $1"; return 1; }
# ticks PID...: user+system clock ticks of the processes and their children.
ticks() {
  local t=0 p c
  for p in "$@"; do
    for c in $p $(pgrep -P "$p" || true); do
      [ -r "/proc/$c/stat" ] && t=$((t + $(awk '{print $14+$15}' "/proc/$c/stat")))
    done
  done
  echo $t
}
HZ=$(getconf CLK_TCK)

(cd "$ROOT" && go build -o "$WORK/switchboard" ./cmd/switchboard)
cat > "$WORK/route.yaml" <<YAML
platform:
  udp: ["127.0.0.1:$SB_PORT"]
  tcp: []
  rtp_port_min: 30000
  rtp_port_max: 49998
calls:
  rtp_timeout: -1s
drain_timeout: 1s
log:
  level: warn
admin:
  listen: ""
routes:
  - {name: bench, prefix: svc, target: 'sip:\${user}@127.0.0.1:$UAS_SB'}
YAML
MODS=/usr/lib/x86_64-linux-gnu/kamailio/modules
cat > "$WORK/kamailio.cfg" <<CFG
#!KAMAILIO
listen=udp:127.0.0.1:$KAM_PORT
children=2
mpath="$MODS"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "textops.so"
request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483","Too Many Hops"); exit; }
  if (is_method("CANCEL") || (is_method("ACK") && has_totag() && t_check_trans())) { t_relay(); exit; }
  \$du = "sip:127.0.0.1:$UAS_KAM";
  t_relay();
}
CFG
kamailio -c -f "$WORK/kamailio.cfg" >/dev/null 2>&1 || { echo "kamailio config check failed"; kamailio -c -f "$WORK/kamailio.cfg"; exit 1; }

"$WORK/switchboard" serve -config "$WORK/route.yaml" 2>"$WORK/switchboard.log" &
SB=$!; PIDS+=($SB)
mkdir -p "$WORK/kam"
kamailio -f "$WORK/kamailio.cfg" -DD -E -m 256 -Y "$WORK/kam" >"$WORK/kamailio.log" 2>&1 &
KAM=$!; PIDS+=($KAM)
for pair in "$UAS_SB:uas-sb" "$UAS_KAM:uas-kam"; do
  port=${pair%%:*}; name=${pair#*:}; mkdir -p "$WORK/$name"
  (cd "$WORK/$name" && exec sipp -sf "$ROOT/bench/uas_answer.xml" -i 127.0.0.1 -p "$port" -mp $((port * 4 + 1000)) -buff_size 8388608 -nostdin >out.txt 2>&1) &
  PIDS+=($!)
done
wait_udp "$SB_PORT"; wait_udp "$KAM_PORT"; wait_udp "$UAS_SB"; wait_udp "$UAS_KAM"

# step SYSTEM PORT PID RATE: one SIPp UAC run; prints
# "ok failed retrans seconds achieved-cps cpu% cpu%-per-1k-cps".
step() {
  local sys=$1 port=$2 pid=$3 rate=$4 d="$WORK/$1-$4"
  local calls=$((rate * SECS)) t0 t1 s0 s1
  mkdir -p "$d"
  t0=$(ticks "$pid"); s0=$(date +%s.%N)
  (cd "$d" && sipp -sn uac -s svc -r "$rate" -m "$calls" -l $((rate * 2)) -i 127.0.0.1 -p $((port + 1000)) \
     -mp $((port * 4 + 3000)) -buff_size 8388608 -nostdin -trace_stat -stf stat.csv -trace_err -error_file err.log -timeout $((SECS * 3 + 10))s \
     "127.0.0.1:$port" >out.txt 2>&1) || true
  t1=$(ticks "$pid"); s1=$(date +%s.%N)
  local hdr line
  hdr=$(head -n 1 "$d/stat.csv"); line=$(tail -n 1 "$d/stat.csv")
  col() { echo "$line" | cut -d';' -f"$(echo "$hdr" | tr ';' '\n' | grep -n -x "$1" | cut -d: -f1)"; }
  awk -v ok="$(col 'SuccessfulCall(C)')" -v f="$(col 'FailedCall(C)')" -v r="$(col 'Retransmissions(C)')" \
      -v a="$t0" -v b="$t1" -v s="$s0" -v e="$s1" -v hz="$HZ" 'BEGIN{
        cpu=(b-a)/hz; printf "%d %d %d %.1f %.0f %.1f %.1f\n", ok, f, r, e-s, ok/(e-s), cpu/(e-s)*100, (ok ? cpu/ok*1000*100 : 0)}'
}

{
echo "# route-cps.sh $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $SECS s per step"
echo "# $("$WORK/switchboard" version 2>&1 | head -n1); $(kamailio -v | head -n1)"
printf "%-11s %6s %7s %7s %8s %6s %9s %7s %11s\n" system rate ok failed retrans secs achieved cpu% cpu%/1kcps
} | tee "$WORK/table"
sb_on=1; kam_on=1; sb_best=0; kam_best=0
for rate in $RATES; do
  for sys in switchboard kamailio; do
    if [ $sys = switchboard ]; then on=$sb_on; port=$SB_PORT; pid=$SB; else on=$kam_on; port=$KAM_PORT; pid=$KAM; fi
    [ "$on" = 1 ] || continue
    read -r ok failed retrans secs achieved cpu per < <(step $sys "$port" "$pid" "$rate")
    printf "%-11s %6s %7s %7s %8s %6s %9s %7s %11s\n" $sys "$rate" "$ok" "$failed" "$retrans" "$secs" "$achieved" "$cpu" "$per" | tee -a "$WORK/table"
    # Clean: every call succeeded, at (within 5 % of) the rate asked for;
    # an overloaded system completes its calls late, stretching the step.
    if [ "$failed" -eq 0 ] && [ "$ok" -eq $((rate * SECS)) ] && [ $((achieved * 100)) -ge $((rate * 95)) ]; then
      if [ $sys = switchboard ]; then sb_best=$rate; else kam_best=$rate; fi
    else
      if [ $sys = switchboard ]; then sb_on=0; else kam_on=0; fi
    fi
    sleep 2
  done
  [ $sb_on = 1 ] || [ $kam_on = 1 ] || break
done
{
echo "highest clean rate (zero failed calls, achieved within 5 %): switchboard $sb_best calls/s, kamailio $kam_best calls/s (of RATES=\"$RATES\")"
# CPU per 1,000 calls/s at the rates both passed, and the ratio.
awk 'NR>3 && $1=="switchboard"{sb[$2]=$9} NR>3 && $1=="kamailio"{k[$2]=$9}
     END{for (r in sb) if (r in k && k[r]>0) printf "at %d calls/s: switchboard %.1f%%, kamailio %.1f%% of a core per 1,000 calls/s: ratio %.2f\n", r, sb[r], k[r], sb[r]/k[r]}' "$WORK/table" | sort -n -k2
} | tee -a "$WORK/table"
kill "${PIDS[@]}" 2>/dev/null || true; wait "${PIDS[@]}" 2>/dev/null || true; PIDS=()

# GET /api/v1/calls with CALLS_LIVE live calls (echo app, no RTP).
cat > "$WORK/live.yaml" <<YAML
platform:
  udp: ["127.0.0.1:$SB_PORT"]
  tcp: []
  rtp_port_min: 30000
  rtp_port_max: 49998
calls:
  rtp_timeout: -1s
  session_expires: -1s
drain_timeout: 1s
log:
  level: warn
admin:
  listen: "127.0.0.1:$ADMIN_PORT"
YAML
"$WORK/switchboard" serve -config "$WORK/live.yaml" 2>"$WORK/live.log" &
LIVE=$!; PIDS+=($LIVE)
wait_udp "$SB_PORT"
mkdir -p "$WORK/live"
(cd "$WORK/live" && exec sipp -sn uac -s echo -r 200 -m "$CALLS_LIVE" -l "$CALLS_LIVE" -d 600000 -i 127.0.0.1 -p $((SB_PORT + 1000)) \
   -mp 9000 -buff_size 8388608 -nostdin -timeout 900s "127.0.0.1:$SB_PORT" >out.txt 2>&1) &
UAC=$!; PIDS+=($UAC)
count() { curl -s "http://127.0.0.1:$ADMIN_PORT/api/v1/calls" | python3 -c 'import json,sys; print(sum(1 for c in json.load(sys.stdin)["calls"] if c["state"]=="established"))'; }
for _ in $(seq 120); do [ "$(count)" -ge "$CALLS_LIVE" ] && break; sleep 1; done
n=$(count)
size=$(curl -s -o /dev/null -w '%{size_download}' "http://127.0.0.1:$ADMIN_PORT/api/v1/calls")
urls=(); for _ in $(seq "$GETS"); do urls+=("http://127.0.0.1:$ADMIN_PORT/api/v1/calls"); done
t0=$(ticks "$LIVE"); s0=$(date +%s.%N)
curl -s -o /dev/null -w '%{time_total}\n' "${urls[@]}" > "$WORK/get-times"
t1=$(ticks "$LIVE"); s1=$(date +%s.%N)
sort -n "$WORK/get-times" | awk -v n="$n" -v size="$size" -v gets="$GETS" -v a="$t0" -v b="$t1" -v s="$s0" -v e="$s1" -v hz="$HZ" '
  {v[NR]=$1*1000} END{printf "GET /api/v1/calls with %d live calls (%d bytes), %d sequential GETs on one connection: p50 %.1f ms, p99 %.1f ms, max %.1f ms; server CPU %.0f%% of a core while serving them\n",
  n, size, gets, v[int(NR*0.50)+1], v[int(NR*0.99)+1], v[NR], (b-a)/hz/(e-s)*100}' | tee -a "$WORK/table"
cp "$WORK/table" "$OUT/route-cps-$(date -u +%Y%m%dT%H%M%SZ).txt"
