#!/usr/bin/env bash
# Switchboard side by side with its anchors (issue 16), in one command:
#   relay     RELAY_CALLS (500) relayed G.711 calls: b2b relay vs Kamailio +
#             rtpengine userspace (b2b BenchmarkRelayedCalls, kamailio-relay.sh),
#             CPU per call
#   music     MUSIC_N (1000) listeners of one player: per-listener sessions vs
#             the connected-socket floor, the shared port vs the sendmmsg floor
#             (bench/floor, one sink process counting missing and late
#             packets per listener)
#   cps       signalling through a b2b route vs Kamailio's stateful proxy at
#             CPS_RATE (500) calls/s (route-cps.sh, one step), CPU per 1,000 calls/s
#   memory    RSS per established call: echo and music (concurrent.sh,
#             MEM_CALLS, 500) vs rtpengine's RSS per relayed call (from the
#             relay run)
# Every scenario runs REPS (3) times, interleaved (ours, then the anchor, in
# each repetition), so that both see the same machine; the table holds the
# medians and the ratios, with the raw figures of every repetition below it,
# in bench/results/compare-<date>.md. QUICK=1: one repetition, fewer calls and
# shorter windows. Installs sip-tester, kamailio, rtpengine-daemon and sox with
# apt when missing; binds only 127.0.0.1; every run is bounded by `timeout`;
# the scripts it calls stop only the processes they started, by PID, and so
# does this one.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OUT=${OUT:-$ROOT/bench/results}
mkdir -p "$OUT"
if [ -n "${QUICK:-}" ]; then
  REPS=${REPS:-1}; RELAY_CALLS=${RELAY_CALLS:-200}; MUSIC_N=${MUSIC_N:-1000}; MUSIC_SECS=${MUSIC_SECS:-8}
  CPS_RATE=${CPS_RATE:-300}; CPS_SECS=${CPS_SECS:-5}; MEM_CALLS=${MEM_CALLS:-200}
else
  REPS=${REPS:-3}; RELAY_CALLS=${RELAY_CALLS:-500}; MUSIC_N=${MUSIC_N:-1000}; MUSIC_SECS=${MUSIC_SECS:-12}
  CPS_RATE=${CPS_RATE:-500}; CPS_SECS=${CPS_SECS:-10}; MEM_CALLS=${MEM_CALLS:-500}
fi
need=()
command -v sipp >/dev/null || need+=(sip-tester)
command -v kamailio >/dev/null || need+=(kamailio)
command -v rtpengine >/dev/null || need+=(rtpengine-daemon)
command -v sox >/dev/null || need+=(sox)
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
go build -o "$WORK/floor" ./bench/floor
go test -c -o "$WORK/b2b.test" ./b2b/
RAW="$WORK/raw" # lines: scenario system rep value...
: >"$RAW"
# The sink's port is below every RTP range the scripts use (and the
# servers of other tests on the machine may be using): the first free UDP
# port from SINK_PORT (12990) on.
udp_busy() { grep -q ":$(printf '%04X' "$1") " /proc/net/udp 2>/dev/null; }
port=${SINK_PORT:-12990}
while udp_busy "$port"; do port=$((port + 1)); done
SINK=127.0.0.1:$port

# bounded CMD...: run CMD for at most 120 s (180 s for the relay runs,
# whose ramp-up alone takes RELAY_CALLS/100 s per side).
bounded() { timeout --foreground -k 5 "${LIMIT:-120}" "$@"; }

music() { # music MODE REP
  local mode=$1 rep=$2 s
  "$WORK/floor" -mode sink -addr "$SINK" -d $((MUSIC_SECS - 1))s -warm 2s >"$WORK/sink.out" &
  s=$!; PIDS+=($s)
  sleep 0.2
  local cpu
  cpu=$(bounded "$WORK/floor" -mode "$mode" -n "$MUSIC_N" -to "$SINK" -d "${MUSIC_SECS}s" -warm 2s |
    sed -n 's/.*cpu=\([0-9.]*\)%.*/\1/p')
  wait "$s" || true
  # sink listeners=N received=R expected=E missing=M (listeners ..) late=L (listeners ..)
  read -r recv exp miss late < <(sed -n 's/.*received=\([0-9]*\) expected=\([0-9]*\) missing=\([0-9]*\).*late=\([0-9]*\).*/\1 \2 \3 \4/p' "$WORK/sink.out") || true
  echo "music $mode $rep $cpu $recv $exp $miss $late" >>"$RAW"
}

relay() { # relay REP
  local rep=$1 ours theirs rss
  ours=$(cd b2b && B2B_CALLS=$RELAY_CALLS LIMIT=180 bounded "$WORK/b2b.test" -test.run '^$' -test.bench RelayedCalls -test.benchtime 1x |
    grep -o '[0-9.]* cpu%/call' | cut -d' ' -f1 || true)
  echo "relay switchboard $rep ${ours:-NA}" >>"$RAW"
  CALLS=$RELAY_CALLS LIMIT=180 bounded bench/kamailio-relay.sh >"$WORK/kam.out" 2>&1 || true
  theirs=$(grep -o '[0-9.]*% per call' "$WORK/kam.out" | tr -d '%' | cut -d' ' -f1 || true)
  rss=$(sed -n 's/.* \([0-9.]*\) KB per relayed call/\1/p' "$WORK/kam.out")
  echo "relay rtpengine $rep ${theirs:-NA}" >>"$RAW"
  echo "mem rtpengine $rep ${rss:-NA}" >>"$RAW"
}

cps() { # cps REP
  local rep=$1 line
  OUT="$WORK" RATES="$CPS_RATE" SECONDS_PER_STEP=$CPS_SECS CALLS_LIVE=10 GETS=5 bounded bench/route-cps.sh >"$WORK/cps.out" 2>&1 || true
  line=$(grep "^at $CPS_RATE calls/s" "$WORK/cps.out" || true)
  # at R calls/s: switchboard X%, kamailio Y% of a core per 1,000 calls/s: ratio Z
  read -r sb kam < <(echo "$line" | sed -n 's/.*switchboard \([0-9.]*\)%, kamailio \([0-9.]*\)%.*/\1 \2/p') || true
  echo "cps switchboard $rep ${sb:-NA}" >>"$RAW"
  echo "cps kamailio $rep ${kam:-NA}" >>"$RAW"
}

mem() { # mem SERVICE REP
  local svc=$1 rep=$2 kb
  SERVICE=$svc CALLS=$MEM_CALLS RATE=100 HOLD=$((MEM_CALLS / 100 + 12)) SIP_PORT=5380 bounded bench/concurrent.sh >"$WORK/mem.out" 2>&1 || true
  kb=$(sed -n 's/RSS per call: \([0-9.]*\) KB/\1/p' "$WORK/mem.out")
  echo "mem $svc $rep ${kb:-NA}" >>"$RAW"
}

for rep in $(seq "$REPS"); do
  echo "repetition $rep of $REPS: music" >&2
  for mode in connected music sendmmsg music-shared; do music $mode "$rep"; done
  echo "repetition $rep: relay" >&2
  relay "$rep"
  echo "repetition $rep: signalling" >&2
  cps "$rep"
  echo "repetition $rep: memory" >&2
  mem echo "$rep"
  mem moh "$rep"
done

# med SCENARIO SYSTEM [FIELD]: median of a field (4 = the first value).
med() {
  awk -v s="$1" -v y="$2" -v f="${3:-4}" '$1==s && $2==y && $f!="NA" {print $f}' "$RAW" | sort -g |
    awk '{v[NR]=$1} END{ if (NR==0) print "NA"; else if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2 }'
}
sumf() { awk -v s="$1" -v y="$2" -v f="$3" '$1==s && $2==y {t+=$f} END{print t+0}' "$RAW"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a=="NA" || b=="NA" || b==0) print "—"; else printf "%.2f", a/b }'; }
date=$(date -u +%F)
file="$OUT/compare-$date${QUICK:+-quick}.md"
{
  echo "# bench/compare.sh, $(date -u +%FT%TZ)"
  echo
  echo "$(nproc) cores, load at the end $(cut -d' ' -f1-3 /proc/loadavg); REPS=$REPS${QUICK:+ (QUICK)}; $(kamailio -v | head -n1); $(rtpengine --version 2>&1 | head -n1)"
  echo
  echo "| What | Switchboard | Anchor in the same run | Ratio |"
  echo "|---|---|---|---|"
  a=$(med relay switchboard); b=$(med relay rtpengine)
  echo "| $RELAY_CALLS relayed calls, CPU per call | $a % of a core | Kamailio + rtpengine userspace $b % | $(ratio "$a" "$b") |"
  a=$(med music music); b=$(med music connected)
  echo "| Music to $MUSIC_N listeners, a session (socket) each, CPU | $a % | floor, $MUSIC_N connected sockets: $b % | $(ratio "$a" "$b") |"
  a=$(med music music-shared); b=$(med music sendmmsg); c=$(med music connected)
  echo "| Music to $MUSIC_N listeners, shared port (sendmmsg), CPU | $a % | floor, one socket with sendmmsg: $b % | $(ratio "$a" "$b") (vs connected floor $(ratio "$a" "$c")) |"
  a=$(med cps switchboard); b=$(med cps kamailio)
  echo "| Signalling at $CPS_RATE calls/s (b2b route, no media), CPU per 1,000 calls/s | $a % | Kamailio stateful proxy: $b % | $(ratio "$a" "$b") |"
  a=$(med mem echo); b=$(med mem rtpengine); c=$(med mem moh)
  echo "| RSS per established call, echo ($MEM_CALLS calls) | $a KB | rtpengine per relayed call: $b KB | $(ratio "$a" "$b") |"
  echo "| RSS per established call, music ($MEM_CALLS calls) | $c KB | rtpengine per relayed call: $b KB | $(ratio "$c" "$b") |"
  echo
  echo "Music packets over all repetitions, counted per listener by the sink (kernel receive timestamps): missing = 20 ms slots between a listener's first and last packet that no packet filled (a sender more than 100 ms late gives up those frames); late = waits of more than 30 ms for a listener's next packet (a tick sent late, then caught up):"
  echo
  echo "| mode | received | expected | missing | late ticks |"
  echo "|---|---|---|---|---|"
  for mode in connected music sendmmsg music-shared; do
    echo "| $mode | $(sumf music $mode 5) | $(sumf music $mode 6) | $(sumf music $mode 7) | $(sumf music $mode 8) |"
  done
  echo
  echo "Raw (scenario system repetition value…; music: cpu% received expected missing late):"
  echo
  echo '```'
  cat "$RAW"
  echo '```'
} >"$file"
cat "$file"
echo "written: $file" >&2
