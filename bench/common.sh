# Shared helpers of the benchmark scripts (sourced).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$ROOT/bench/results}
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT

need=()
command -v sipp >/dev/null || need+=(sip-tester)
command -v sox >/dev/null || need+=(sox)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

SIP_PORT=${SIP_PORT:-5080}
(cd "$ROOT" && go build -o "$WORK/switchboard" ./cmd/switchboard)
cat > "$WORK/bench.yaml" <<YAML
platform:
  udp: ["127.0.0.1:$SIP_PORT"]
  tcp: []
  rtp_port_min: 20000
  rtp_port_max: 39998
log:
  level: warn
YAML
sox -n -r 8000 -c 1 -t ul "$WORK/tone.ulaw" synth 10 sine 440 vol 0.3

start_server() {
  "$WORK/switchboard" serve -config "$WORK/bench.yaml" 2>"$WORK/server.log" &
  SERVER_PID=$!
  for _ in $(seq 100); do
    grep -q ":$(printf '%04X' "$SIP_PORT") " /proc/net/udp 2>/dev/null && return 0
    sleep 0.05
  done
  echo "server did not start"; cat "$WORK/server.log"; exit 1
}

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
