#!/usr/bin/env bash
# Relayed calls through Kamailio + rtpengine (userspace), for comparison
# with `go test -run '^$' -bench RelayedCalls -benchtime 1x ./b2b/` — run
# both with the same CALLS. SIPp UAC (streaming G.711) → Kamailio
# (record-routing proxy, rtpengine offer/answer) → SIPp UAS (streaming its
# own audio). Prints Kamailio's and rtpengine's CPU (% of one core) over a
# 10 s window with all calls up. CALLS=500 by default.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CALLS=${CALLS:-500}
need=()
command -v sipp >/dev/null || need+=(sip-tester)
command -v kamailio >/dev/null || need+=(kamailio)
command -v rtpengine >/dev/null || need+=(rtpengine-daemon)
command -v sox >/dev/null || need+=(sox)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
WORK=$(mktemp -d)
# Every process started here is a job of this shell: stopped by its PID
# (Kamailio's main process takes its children with it).
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT
sox -n -r 8000 -c 1 -t ul "$WORK/tone.ulaw" synth 5 sine 440 vol 0.2
for f in uac_media.xml uas_media.xml; do sed "s|rtp_stream=\"tone.ulaw|rtp_stream=\"$WORK/tone.ulaw|" "$ROOT/bench/$f" > "$WORK/$f"; done
MODS=/usr/lib/x86_64-linux-gnu/kamailio/modules
cat > "$WORK/kamailio.cfg" <<CFG
#!KAMAILIO
listen=udp:127.0.0.1:5090
children=2
mpath="$MODS"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "rtpengine.so"
modparam("rtpengine", "rtpengine_sock", "udp:127.0.0.1:22222")
request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483","Too Many Hops"); exit; }
  if (has_totag()) {
    if (loose_route()) {
      if (is_method("BYE")) { rtpengine_delete(); }
      t_relay(); exit;
    }
    if (is_method("ACK")) { if (t_check_trans()) { t_relay(); } exit; }
    sl_send_reply("404","Not here"); exit;
  }
  if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
  record_route();
  if (is_method("INVITE")) { rtpengine_offer("replace-origin replace-session-connection"); t_on_reply("REPLY"); }
  \$du = "sip:127.0.0.1:5091";
  t_relay();
}
onreply_route[REPLY] {
  if (has_body("application/sdp")) { rtpengine_answer("replace-origin replace-session-connection"); }
}
CFG
kamailio -c -f "$WORK/kamailio.cfg" >/dev/null 2>&1 || { echo "kamailio config check failed"; kamailio -c -f "$WORK/kamailio.cfg"; exit 1; }
rtpengine --table=-1 --interface=127.0.0.1 --listen-ng=127.0.0.1:22222 --port-min=40000 --port-max=59999 \
  --foreground --log-stderr --log-level=3 --num-threads=2 >"$WORK/rtpengine.log" 2>&1 &
RTPE=$!
for _ in $(seq 50); do grep -q ":56AE " /proc/net/udp && break; sleep 0.1; done # 22222 = 0x56AE
mkdir -p "$WORK/run"
RTPE_RSS0=$(awk '/VmRSS/ {print $2}' /proc/$RTPE/status)
kamailio -f "$WORK/kamailio.cfg" -DD -E -Y "$WORK/run" >"$WORK/kamailio.log" 2>&1 &
KAM=$!
sleep 1
(cd "$WORK" && exec sipp -sf uas_media.xml -p 5091 -i 127.0.0.1 -mp 20000 -buff_size 8388608 -nostdin >"$WORK/uas.out" 2>&1) &
UAS=$!
HOLD=$((CALLS / 100 + 40))
(cd "$WORK" && exec sipp -sf uac_media.xml -s svc -m "$CALLS" -l "$CALLS" -r 100 -d $((HOLD * 1000)) -i 127.0.0.1 -p 6200 -mp 21000 \
   -buff_size 8388608 -nostdin -trace_stat -stf stat.csv -fd 1 127.0.0.1:5090 >"$WORK/uac.out" 2>&1) &
sleep $((CALLS / 100 + 8))
ticks() { local t=0; for p in $KAM $(pgrep -P $KAM) $RTPE; do t=$((t + $(awk '{print $14+$15}' /proc/$p/stat))); done; echo $t; }
rtpe() { awk '{print $14+$15}' /proc/$RTPE/stat; }
t0=$(ticks); r0=$(rtpe); s0=$(date +%s.%N)
sleep 10
t1=$(ticks); r1=$(rtpe); s1=$(date +%s.%N)
hz=$(getconf CLK_TCK)
RTPE_RSS1=$(awk '/VmRSS/ {print $2}' /proc/$RTPE/status)
cur=$(tail -n 1 "$WORK/stat.csv" | cut -d';' -f$(head -n1 "$WORK/stat.csv" | tr ';' '\n' | grep -n -x CurrentCall | cut -d: -f1))
awk -v a="$t0" -v b="$t1" -v ra="$r0" -v rb="$r1" -v s="$s0" -v e="$s1" -v hz="$hz" -v n="$cur" 'BEGIN{
  tot=(b-a)/hz/(e-s)*100; rt=(rb-ra)/hz/(e-s)*100;
  printf "calls up: %d\nkamailio+rtpengine CPU: %.1f%% of one core (rtpengine %.1f%%), %.3f%% per call\n", n, tot, rt, tot/n }'
awk -v a="$RTPE_RSS0" -v b="$RTPE_RSS1" -v n="$cur" 'BEGIN{ if (n>0) printf "rtpengine RSS: %d KB idle, %d KB with calls, %.1f KB per relayed call\n", a, b, (b-a)/n }'
kill "$UAS" 2>/dev/null || true
