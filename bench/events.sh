#!/usr/bin/env bash
# The admin event stream under churn: one SSE client (curl -N) reads
# GET /api/v1/events while SIPp's stock uac places CALLS (3000) echo calls
# at RATE (100) calls/s, each held HOLD_MS (10000) ms, so about RATE*HOLD
# (1,000) calls are up at once while 100 start and 100 end every second.
# Then it checks that no event was lost: ids 1..N with no hole and no
# "gap" event, and every call has its established and terminated events;
# and prints the server's CPU over the run.
# Loopback only; every process it starts is stopped by its PID.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CALLS=${CALLS:-3000}
RATE=${RATE:-100}
HOLD_MS=${HOLD_MS:-10000}
SB_PORT=${SB_PORT:-5280}
ADMIN_PORT=${ADMIN_PORT:-8289}
need=()
command -v sipp >/dev/null || need+=(sip-tester)
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
if udp_listening "$SB_PORT"; then echo "UDP port $SB_PORT is in use: set SB_PORT"; exit 1; fi
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
(cd "$ROOT" && go build -o "$WORK/switchboard" ./cmd/switchboard)
cat > "$WORK/events.yaml" <<YAML
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
"$WORK/switchboard" serve -config "$WORK/events.yaml" 2>"$WORK/server.log" &
SB=$!; PIDS+=($SB)
for _ in $(seq 100); do udp_listening "$SB_PORT" && break; sleep 0.05; done
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ADMIN_PORT/healthz" >/dev/null && break; sleep 0.05; done
curl -sN "http://127.0.0.1:$ADMIN_PORT/api/v1/events" > "$WORK/events.txt" &
CURL=$!; PIDS+=($CURL)
sleep 0.5
t0=$(ticks "$SB"); s0=$(date +%s.%N)
(cd "$WORK" && sipp -sn uac -s echo -r "$RATE" -m "$CALLS" -l $((RATE * HOLD_MS / 1000 + RATE)) -d "$HOLD_MS" -i 127.0.0.1 \
   -p $((SB_PORT + 1000)) -mp 9400 -buff_size 8388608 -nostdin -trace_stat -stf stat.csv -timeout $((CALLS / RATE + HOLD_MS / 1000 + 60))s \
   "127.0.0.1:$SB_PORT" >uac.txt 2>&1) || true
t1=$(ticks "$SB"); s1=$(date +%s.%N)
sleep 2
kill "$CURL" 2>/dev/null || true
hdr=$(head -n 1 "$WORK/stat.csv"); line=$(tail -n 1 "$WORK/stat.csv")
col() { echo "$line" | cut -d';' -f"$(echo "$hdr" | tr ';' '\n' | grep -n -x "$1" | cut -d: -f1)"; }
ok=$(col 'SuccessfulCall(C)'); failed=$(col 'FailedCall(C)'); peak=$(col 'CurrentCall')
python3 - "$WORK/events.txt" "$ok" <<'PY'
import json, sys
ids, gaps, est, term = [], 0, set(), set()
ev = {}
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("id: "):
        ids.append(int(line[4:]))
    elif line == "event: gap":
        gaps += 1
    elif line.startswith("data: ") and ids:
        d = json.loads(line[6:])
        data = d.get("data", d) if isinstance(d, dict) else {}
        if isinstance(data, dict) and data.get("app") == "echo":
            if data.get("state") == "established": est.add(data["call_id"])
            if data.get("state") == "terminated": term.add(data["call_id"])
holes = sum(1 for a, b in zip(ids, ids[1:]) if b != a + 1)
ok = int(sys.argv[2])
print(f"events: {len(ids)} (ids {ids[0] if ids else 0}..{ids[-1] if ids else 0}), holes {holes}, gap events {gaps}; "
      f"calls established {len(est)}, terminated {len(term)} (SIPp: {ok} successful)")
print("no event lost" if holes == 0 and gaps == 0 and len(est) == ok and len(term) == ok else "EVENTS LOST")
PY
awk -v a="$t0" -v b="$t1" -v s="$s0" -v e="$s1" -v hz="$(getconf CLK_TCK)" -v ok="$ok" -v f="$failed" -v calls="$CALLS" -v rate="$RATE" -v hold="$HOLD_MS" 'BEGIN{
  printf "SIPp: %d ok, %d failed of %d at %d calls/s, %d ms each (about %d up at once); server CPU %.1f%% of a core over %.0f s\n",
  ok, f, calls, rate, hold, rate*hold/1000, (b-a)/hz/(e-s)*100, e-s}'
